"""Access to the per-process services from views."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipaddress
from urllib.parse import urljoin

from flask import Request, current_app, g, request

from search.config import Settings
from search.links import image_href, local_article_path, safe_link
from search.service import SearchService

if TYPE_CHECKING:
    from indexer.build import Indexer


def settings() -> Settings:
    return current_app.extensions["kindred.settings"]


def search_service() -> SearchService:
    return current_app.extensions["kindred.search"]


def indexer() -> "Indexer":
    """The app's writer, made on the first admin write: the writing side (scikit-learn and
    the source readers among it) is imported only then, never by a worker that only reads."""
    found = current_app.extensions.get("kindred.indexer")
    if found is None:
        from indexer.build import Indexer

        found = current_app.extensions["kindred.indexer"] = Indexer(settings())
    return found


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


def article_link(url: str, article_id: str, absolute: bool = True) -> str:
    """The link to an article (`url` as the service gives it, search/links.py), made absolute
    against this site's base for pages on other origins."""
    href = safe_link(url) or local_article_path(article_id)
    return urljoin(site_base(), href) if absolute else href


def image_link(url: str) -> str | None:
    """An article's image URL, as given, when it is http(s) or a path, else None."""
    return image_href(url)


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
