"""WordPress eXtended RSS (WXR) exports: published posts and pages, with categories and tags.

Parsed with defusedxml (no entity expansion, no external entities). Attachments, menu
items, drafts, private and password-protected entries are skipped and counted. The id is
WordPress's post id (slugs repeat and change; the id does not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from defusedxml.ElementTree import parse as parse_xml

from indexer.sources.records import Item, Rejected, Skipped, open_binary, parse_problem, to_record
from indexer.sources.text import HostileMarkup, html_to_text

_ARTICLE_TYPES = {"post", "page"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Element, name: str, namespace_hint: str = "") -> Element | None:
    """First child by local name; WXR namespaces vary (http/https, 1.0-1.2)."""
    for child in element:
        tag = child.tag
        if _local(tag) == name and (not namespace_hint or namespace_hint in tag):
            return child
    return None


def _text(element: Element, name: str, namespace_hint: str = "") -> str:
    child = _child(element, name, namespace_hint)
    return (child.text or "").strip() if child is not None else ""


def export_site(path: Path) -> str | None:
    """The address of the site an export comes from (`wp:base_blog_url`, else the channel's
    `<link>`), read from its head: None for a file that is not a readable export."""
    link = None
    try:
        with open_binary(path) as fh:
            for event, element in iterparse(fh, events=("start", "end"), forbid_dtd=True):
                name = _local(element.tag)
                if event == "start" and name == "item":
                    break
                if event == "end" and name == "base_blog_url" and (element.text or "").strip():
                    return element.text.strip()
                if event == "end" and name == "link" and link is None:
                    link = (element.text or "").strip() or None
    except (ParseError, DefusedXmlException, OSError, EOFError, LookupError, ValueError):
        return None
    return link


def read_wxr(path: Path) -> Iterator[Item]:
    try:
        with open_binary(path) as fh:  # exports are often gzipped (.xml.gz)
            root = parse_xml(fh, forbid_dtd=True).getroot()
    except ParseError as exc:
        line, column = exc.position
        yield Rejected(f"{path}:{line}", f"malformed XML: {exc.msg if hasattr(exc, 'msg') else exc} (column {column})")
        return
    except DefusedXmlException as exc:
        yield Rejected(str(path), f"refused unsafe XML: {exc}")
        return
    except (LookupError, ValueError, RecursionError) as exc:  # an unknown encoding, absurd nesting
        yield Rejected(str(path), f"malformed XML: {parse_problem(exc)}")
        return
    channel = _child(root, "channel")
    if _local(root.tag) != "rss" or channel is None:
        yield Rejected(str(path), "not a WordPress export (expected <rss><channel>)")
        return
    authors = {
        _text(a, "author_login"): _text(a, "author_display_name") or _text(a, "author_login")
        for a in channel if _local(a.tag) == "author"
    }
    for number, item in enumerate((e for e in channel if _local(e.tag) == "item"), start=1):
        location = f"{path}: item {number}"
        post_type = _text(item, "post_type", "export")
        status = _text(item, "status", "export")
        if post_type not in _ARTICLE_TYPES:
            yield Skipped(location, f"post type {post_type or 'unknown'}")
            continue
        if status != "publish":
            yield Skipped(location, f"status {status or 'unknown'}")
            continue
        if _text(item, "post_password", "export"):
            yield Skipped(location, "password protected")
            continue
        try:
            fields = _fields(item, authors)
        except HostileMarkup as exc:
            yield Rejected(location, str(exc))
            continue
        yield to_record(fields, location)


def _fields(item: Element, authors: dict[str, str]) -> dict[str, object]:
    categories = [c for c in item if _local(c.tag) == "category"]
    creator = _text(item, "creator")
    content = _child(item, "encoded", "content")
    excerpt = _child(item, "encoded", "excerpt")
    body = html_to_text(content.text or "") if content is not None else ""
    return {
        "id": _text(item, "post_id", "export") or _text(item, "post_name", "export"),
        "title": _text(item, "title"),
        "url": _text(item, "link"),
        "body": body,
        "summary": html_to_text(excerpt.text or "") if excerpt is not None else "",
        "author": authors.get(creator, creator),
        "published": _text(item, "post_date", "export") or None,
        "category": next(((c.text or "").strip() for c in categories if c.get("domain") == "category"), ""),
        "tags": [(c.text or "").strip() for c in categories if c.get("domain") == "post_tag"],
    }

