"""Kindred's web app: reader pages, the JSON API, the embeddable widget and admin endpoints.

Views are thin: they validate input, call the per-process SearchService (reads) or the
Indexer (admin writes), and render. Nothing here imports an engine or scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str):
    # Loaded on first use, not with the package: gunicorn's master imports web.serve, and the
    # app (with prometheus_client, which fixes its storage when first imported) must load
    # only in the workers, once the shared metrics directory is set up.
    if name == "create_app":
        from web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
