"""Access to the per-process services from views."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from flask import Request, current_app, g, request, url_for

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
    return urljoin(site_base(), url)


def site_base() -> str:
    """Where this site's links start: `site_url`, else the scheme and host asked for."""
    base = g.get("kindred_base")
    if base is None:  # once per request: werkzeug rebuilds host_url on each access
        base = g.kindred_base = settings().site_url or request.host_url
    return base


def links_follow_the_host() -> bool:
    """Whether this response's links were made from the request's Host header."""
    return "kindred_base" in g and not settings().site_url


# Schemes a reader's click may follow. Anything else (javascript:, data:, vbscript:) in an
# article's url would run code on the page showing the link, which for the widget is a
# publisher's page on another origin.
LINK_SCHEMES = frozenset({"http", "https"})


@lru_cache(maxsize=8192)
def _safe_absolute(base: str, url: str) -> str | None:
    """`url` made absolute against `base` when it is an http(s) URL or a path, else None.
    Cached: every hit and related item of every response goes through here."""
    try:
        full = urljoin(base, url)
        return full if urlsplit(full).scheme.lower() in LINK_SCHEMES else None
    except ValueError:  # not a URL at all ("http://[")
        return None


def article_link(url: str, article_id: str, absolute: bool = True) -> str:
    """The link to an article: its url (made absolute, or as given with absolute=False) when
    that is an http(s) URL or a path, else Kindred's own page for the article."""
    full = _safe_absolute(site_base(), url)
    if full is not None:
        return full if absolute else url
    local = url_for("pages.article", article_id=article_id)
    return absolute_url(local) if absolute else local


def image_link(url: str) -> str | None:
    """An article's image URL, as given, when it is http(s) or a path, else None."""
    if not url:
        return None
    return url if _safe_absolute(site_base(), url) is not None else None


def client_address(req: Request) -> str:
    """Who is asking, for per-client limits (never stored): the connection's address, or the
    one `trusted_proxies` in front put in X-Forwarded-For (werkzeug's ProxyFix, in the app).
    An IPv6 client is its /64 network: one machine can use the whole of it."""
    address = req.remote_addr or ""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False)) if parsed.version == 6 else address
