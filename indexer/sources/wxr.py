"""WordPress eXtended RSS (WXR) exports: published posts and pages, with categories and tags.

Parsed with defusedxml (no entity expansion, no external entities) as a stream: each item is
read, turned into a record and dropped, so memory holds one item, never the export.
Attachments, menu items, drafts, private and password-protected entries are skipped and
counted. The id is WordPress's post id (slugs repeat and change; the id does not).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from indexer.sources.bounded import MAX_RECORD_BYTES, TooLarge, open_binary, size
from indexer.sources.isolation import isolated
from indexer.sources.records import Item, Rejected, Skipped, parse_problem, to_record
from indexer.sources.text import HostileMarkup, html_to_text

_ARTICLE_TYPES = {"post", "page"}
# What the reader keeps of an item (and of an author); everything else is dropped as read.
_KEPT = {"title", "link", "creator", "encoded", "post_id", "post_name", "post_date", "status", "post_type",
         "post_password", "category", "author_login", "author_display_name"}
# WordPress nests 6 elements deep; one item has a few dozen fields, categories and tags.
MAX_XML_DEPTH = 100
MAX_ITEM_FIELDS = 1_000
MAX_AUTHORS = 10_000
_CHANNEL_DEPTH = 2  # <rss><channel><item>: items and authors are at depth 3


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


class _Budget:
    """The file, refusing (TooLarge) to read more than MAX_RECORD_BYTES since `mark` was
    last set: one item, or the stretch between two parts of the channel."""

    def __init__(self, fh: BinaryIO):
        self._fh = fh
        self.position = 0
        self.mark = 0
        self.part = "the export's head"

    def read(self, n: int) -> bytes:
        data = self._fh.read(n)
        self.position += len(data)
        if self.position - self.mark > MAX_RECORD_BYTES:
            raise TooLarge(f"{self.part} is larger than {size(MAX_RECORD_BYTES)}: the rest of the file is not read")
        return data


def export_site(path: Path) -> str | None:
    """The address of the site an export comes from (`wp:base_blog_url`, else the channel's
    `<link>`), read from its head: None for a file that is not a readable export."""
    link = None
    try:
        with open_binary(path) as fh:
            for event, element in iterparse(_Budget(fh), events=("start", "end"), forbid_dtd=True):
                name = _local(element.tag)
                if event == "start" and name == "item":
                    break
                if event == "end" and name == "base_blog_url" and (element.text or "").strip():
                    return element.text.strip()
                if event == "end" and name == "link" and link is None:
                    link = (element.text or "").strip() or None
    except (ParseError, DefusedXmlException, TooLarge, OSError, EOFError, LookupError, ValueError):
        return None
    return link


def read_wxr(path: Path) -> Iterator[Item]:
    items = 0
    try:
        with open_binary(path) as fh:  # exports are often gzipped (.xml.gz)
            for event in _channel_parts(_Budget(fh)):
                if isinstance(event, Rejected):
                    yield Rejected(f"{path}{event.location}", event.message)
                    return
                items += 1
                yield _item(event[0], event[1], f"{path}: item {items}")
    except ParseError as exc:
        line, column = exc.position
        yield Rejected(f"{path}:{line}", f"malformed XML: {exc.msg if hasattr(exc, 'msg') else exc} (column {column})")
    except DefusedXmlException as exc:
        yield Rejected(str(path), f"refused unsafe XML: {exc}")
    except (LookupError, ValueError, RecursionError) as exc:  # an unknown encoding
        yield Rejected(str(path), f"malformed XML: {parse_problem(exc)}")


def _channel_parts(budget: _Budget) -> Iterator[tuple[Element, dict[str, str]] | Rejected]:
    """Each item of the channel as it ends, with the authors met so far. What is not kept is
    dropped from the tree as soon as it ends (iterparse may already have added the siblings
    after it, so an element is found by how many of its siblings before it were kept). A
    Rejected (its location relative to the file) ends the stream."""
    authors: dict[str, str] = {}
    stack: list[list] = []  # [element, how many of its children are kept]
    channel = False
    items = 0
    for event, element in iterparse(budget, events=("start", "end"), forbid_dtd=True):
        name = _local(element.tag)
        if event == "start":
            stack.append([element, 0])
            if len(stack) == 1 and name != "rss" or len(stack) == _CHANNEL_DEPTH and name != "channel":
                break
            channel = channel or len(stack) == _CHANNEL_DEPTH
            if len(stack) > MAX_XML_DEPTH:
                yield Rejected("", f"XML nests more than {MAX_XML_DEPTH} elements deep")
                return
            if len(stack) == _CHANNEL_DEPTH + 1:
                items += name == "item"
                budget.mark, budget.part = budget.position, f"item {items}" if name == "item" else f"<{name}>"
            continue
        stack.pop()
        depth = len(stack) + 1
        if depth <= _CHANNEL_DEPTH:
            continue
        parent = stack[-1]
        if depth == _CHANNEL_DEPTH + 1:
            if name == "item":
                yield element, authors
            elif name == "author" and len(authors) < MAX_AUTHORS:
                login = _text(element, "author_login")
                authors[login] = _text(element, "author_display_name") or login
            budget.mark = budget.position
        elif depth == _CHANNEL_DEPTH + 2 and name in _KEPT and parent[1] <= MAX_ITEM_FIELDS:
            parent[1] += 1  # one past the limit is kept, so that _item sees it
            continue
        del parent[0][parent[1]]
    if not channel:
        yield Rejected("", "not a WordPress export (expected <rss><channel>)")


def _item(item: Element, authors: dict[str, str], location: str) -> Item:
    post_type = _text(item, "post_type", "export")
    status = _text(item, "status", "export")
    if post_type not in _ARTICLE_TYPES:
        return Skipped(location, f"post type {post_type or 'unknown'}")
    if status != "publish":
        return Skipped(location, f"status {status or 'unknown'}")
    if _text(item, "post_password", "export"):
        return Skipped(location, "password protected")
    if len(item) > MAX_ITEM_FIELDS:  # the reader keeps one more, no further
        return Rejected(location, f"item has more than {MAX_ITEM_FIELDS:,} fields, categories and tags")
    try:
        return to_record(_fields(item, authors), location)
    except HostileMarkup as exc:
        return Rejected(location, str(exc))


def _fields(item: Element, authors: dict[str, str]) -> dict[str, object]:
    categories = [c for c in item if _local(c.tag) == "category"]
    creator = _text(item, "creator")
    content = _child(item, "encoded", "content")
    excerpt = _child(item, "encoded", "excerpt")
    body = isolated(html_to_text, content.text or "") if content is not None else ""
    return {
        "id": _text(item, "post_id", "export") or _text(item, "post_name", "export"),
        "title": _text(item, "title"),
        "url": _text(item, "link"),
        "body": body,
        "summary": isolated(html_to_text, excerpt.text or "") if excerpt is not None else "",
        "author": authors.get(creator, creator),
        "published": _text(item, "post_date", "export") or None,
        "category": next(((c.text or "").strip() for c in categories if c.get("domain") == "category"), ""),
        "tags": [(c.text or "").strip() for c in categories if c.get("domain") == "post_tag"],
    }
