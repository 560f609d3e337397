"""Kindred's web app: reader pages, the JSON API, the embeddable widget and admin endpoints.

Views are thin: they validate input, call the per-process SearchService (reads) or the
Indexer (admin writes), and render. The app factory is `web.app.create_app`; this package
imports nothing, so gunicorn's master can load `web.serve` without the app (prometheus_client
fixes its storage when first imported, which must happen in the workers).
"""
