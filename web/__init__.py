"""Kindred's web app: reader pages, the JSON API, the embeddable widget and admin endpoints.

Views are thin: they validate input, call the per-process SearchService (reads) or the
Indexer (admin writes), and render. Nothing here imports an engine or scikit-learn.
"""

from web.app import create_app

__all__ = ["create_app"]
