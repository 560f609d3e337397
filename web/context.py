"""Access to the per-process services from views."""

from __future__ import annotations

from urllib.parse import urljoin

from flask import current_app, request

from indexer.build import Indexer
from search.config import Settings
from search.service import SearchService


def settings() -> Settings:
    return current_app.extensions["kindred.settings"]


def search_service() -> SearchService:
    return current_app.extensions["kindred.search"]


def indexer() -> Indexer:
    return current_app.extensions["kindred.indexer"]


def absolute_url(url: str) -> str:
    """Article URLs may be paths; pages on other origins need them whole."""
    base = settings().site_url or request.host_url
    return urljoin(base, url)
