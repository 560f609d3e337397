"""Access to the per-process services from views."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from flask import current_app, request, url_for

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


# Schemes a reader's click may follow. Anything else (javascript:, data:, vbscript:) in an
# article's url would run code on the page showing the link, which for the widget is a
# publisher's page on another origin.
LINK_SCHEMES = frozenset({"http", "https"})


def article_link(url: str, article_id: str, absolute: bool = True) -> str:
    """The link to an article: its url (made absolute, or as given with absolute=False) when
    that is an http(s) URL or a path, else Kindred's own page for the article."""
    try:
        full = absolute_url(url)
        safe = urlsplit(full).scheme.lower() in LINK_SCHEMES
    except ValueError:  # not a URL at all ("http://[")
        safe = False
    if safe:
        return full if absolute else url
    local = url_for("pages.article", article_id=article_id)
    return absolute_url(local) if absolute else local


def image_link(url: str) -> str | None:
    """An article's image URL, as given, when it is http(s) or a path, else None."""
    if not url:
        return None
    try:
        safe = urlsplit(absolute_url(url)).scheme.lower() in LINK_SCHEMES
    except ValueError:
        return None
    return url if safe else None
