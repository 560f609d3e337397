"""Standalone HTML pages: metadata from <head>, text from the main content only.

Title: og:title, else <title>, else the first <h1>. Summary: meta description (or
og:description). Body: the page's <article>, <main> or [role=main] (else <body>),
without navigation, headers, footers, asides, bylines and its own <h1>. Id: meta
kindred:id, else the file name.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Iterator

from selectolax.lexbor import LexborHTMLParser

from indexer.sources.records import Item, Rejected, first_value, open_binary, to_record
from indexer.sources.text import HostileMarkup, check_nesting, node_text

_CONTENT_SELECTORS = ("article", "main", "[role=main]", "body")
# Page furniture, and the byline / post meta line whose author and date <head> already gave.
_BOILERPLATE = ("nav, header, footer, aside, [role=navigation], [role=banner], [role=contentinfo], h1, "
                "address, .byline, .entry-meta, .post-meta")


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# <meta charset="x"> or <meta http-equiv="Content-Type" content="text/html; charset=x">, which
# browsers look for in the first 1,024 bytes.
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# What browsers decode these labels as (WHATWG Encoding): Latin-1 and ASCII pages are
# windows-1252, a UTF-16 label in the page itself can only be UTF-8.
_LABEL_ALIASES = {**dict.fromkeys(("iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "ascii",
                                   "us-ascii", "windows-1252", "x-cp1252"), "cp1252"),
                  **dict.fromkeys(("utf-16", "utf-16le", "utf-16be"), "utf-8")}
_TITLE_END = re.compile(r"</title[\s/>]", re.IGNORECASE)
_MARKUP = re.compile(r"<[A-Za-z/!]")


class MalformedPage(ValueError):
    """A page that cannot be read as written: bytes not in its encoding, a <title> never closed."""


def read_html(path: Path) -> Iterator[Item]:
    with open_binary(path) as fh:
        data = fh.read()
    try:
        text = decode_page(data)
        fields = parse_html(text, path.stem)
    except (MalformedPage, HostileMarkup) as exc:
        yield Rejected(str(path), str(exc))
        return
    yield to_record(fields, str(path))


def decode_page(data: bytes) -> str:
    """The page as text: its byte-order mark, else the charset its <meta> declares, else UTF-8."""
    encoding, start, declared = "utf-8", 0, False
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, start = name, len(bom)
            break
    else:
        meta = _META_CHARSET.search(data[:1024])
        if meta:
            label = meta.group(1).decode("ascii").lower()
            encoding, declared = _LABEL_ALIASES.get(label, label), True
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise MalformedPage(f"the page declares an unknown charset {label!r}") from None
    try:
        return data[start:].decode(encoding)
    except UnicodeDecodeError as exc:
        hint = "" if declared else " (a page in another encoding must declare it: <meta charset=\"...\">)"
        name = {"utf-8": "UTF-8", "cp1252": "windows-1252"}.get(codecs.lookup(encoding).name, encoding)
        raise MalformedPage(f"not valid {name} (byte {start + exc.start}){hint}") from None


def parse_html(text: str, default_id: str) -> dict[str, object]:
    check_nesting(text)
    tree = LexborHTMLParser(text)
    title = tree.css_first("title")
    if title is not None and not _TITLE_END.search(text) and _MARKUP.search(title.text()):
        line = text.count("\n", 0, text.lower().find("<title")) + 1
        raise MalformedPage(f"the <title> opened on line {line} is never closed, so the rest of the page "
                             "would be its text: add </title>")

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
