"""Where an article's links point: its own URL or Kindred's page for it, never anything a
click would run.

Links are made without a host when `site_url` is unset (root-relative paths); the web layer
makes them absolute with the host a request names (web/context.py).
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote, urljoin, urlsplit

# Schemes a reader's click may follow. Anything else (javascript:, data:, vbscript:) in an
# article's url would run code on the page showing the link, which for the widget is a
# publisher's page on another origin.
LINK_SCHEMES = frozenset({"http", "https"})
_ANY_HOST = "http://kindred.invalid/"


def local_article_path(article_id: str) -> str:
    """Kindred's own page of an article. The id is one path segment, every reserved
    character encoded ("a/b?c" -> "a%2Fb%3Fc"), so no id can end the path early or climb it."""
    return "/articles/" + quote(article_id, safe="")


@lru_cache(maxsize=8192)
def safe_link(url: str, base: str = "") -> str | None:
    """`url` against `base` (root-relative without one) when it is an http(s) URL or a path,
    else None. Cached: every hit and related item goes through here."""
    try:
        if urlsplit(urljoin(_ANY_HOST, url)).scheme.lower() not in LINK_SCHEMES:
            return None
        return urljoin(base or "/", url)
    except ValueError:  # not a URL at all ("http://[")
        return None


def article_href(url: str, article_id: str, article_links: str, base: str = "") -> str:
    """The link to an article: its own `url` with article_links `source` (when safe), else
    Kindred's page for it."""
    if article_links == "source" and url:
        found = safe_link(url, base)
        if found is not None:
            return found
    local = local_article_path(article_id)
    return urljoin(base, local) if base else local  # already root-relative


def image_href(url: str, base: str = "") -> str | None:
    """An article's image as given, when it is http(s) or a path, else None."""
    return url if url and safe_link(url, base) is not None else None
