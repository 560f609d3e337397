"""Standalone HTML pages: metadata from <head>, text from the main content only.

Title: og:title, else <title>, else the first <h1>. Summary: meta description (or
og:description). Body: the page's <article>, <main> or [role=main] (else <body>),
without navigation, headers, footers, asides, bylines and its own <h1>. Id: meta
kindred:id, else the file name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from selectolax.lexbor import LexborHTMLParser

from indexer.sources.records import Item, Rejected, first_value, read_text, to_record
from indexer.sources.text import HostileMarkup, check_nesting, node_text

_CONTENT_SELECTORS = ("article", "main", "[role=main]", "body")
# Page furniture, and the byline / post meta line whose author and date <head> already gave.
_BOILERPLATE = ("nav, header, footer, aside, [role=navigation], [role=banner], [role=contentinfo], h1, "
                "address, .byline, .entry-meta, .post-meta")


def read_html(path: Path) -> Iterator[Item]:
    try:
        text = read_text(path)
    except UnicodeDecodeError as exc:
        yield Rejected(str(path), f"not valid UTF-8 (byte {exc.start})")
        return
    try:
        fields = parse_html(text, path.stem)
    except HostileMarkup as exc:
        yield Rejected(str(path), str(exc))
        return
    yield to_record(fields, str(path))


def parse_html(text: str, default_id: str) -> dict[str, object]:
    check_nesting(text)
    tree = LexborHTMLParser(text)

    def meta(*names: str) -> str | None:
        for name in names:
            node = tree.css_first(f'meta[name="{name}"]') or tree.css_first(f'meta[property="{name}"]')
            if node is not None and (node.attributes.get("content") or "").strip():
                return node.attributes["content"].strip()
        return None

    def text_of(selector: str) -> str | None:
        node = tree.css_first(selector)
        return node.text(deep=True).strip() if node is not None else None

    canonical = tree.css_first('link[rel="canonical"]')
    fields: dict[str, object] = {
        "id": meta("kindred:id") or default_id,
        "title": meta("og:title") or text_of("title") or text_of("h1"),
        "summary": meta("description", "og:description"),
        "category": meta("kindred:category", "article:section"),
        # Open Graph gives one article:tag meta per tag.
        "tags": meta("keywords") or [node.attributes.get("content") or "" for node in
                                     tree.css('meta[property="article:tag"], meta[name="article:tag"]')],
        "author": meta("author", "article:author"),
        "published": meta("article:published_time", "date"),
        "image": meta("og:image"),
        "url": first_value(
            {"canonical": canonical.attributes.get("href") if canonical is not None else None, "og": meta("og:url")},
            "canonical", "og",
        ),
    }
    content = next((node for node in (tree.css_first(s) for s in _CONTENT_SELECTORS) if node is not None), None)
    if content is not None:
        for node in content.css(_BOILERPLATE):
            node.decompose()
        fields["body"] = node_text(content)
    return fields
