"""Standalone HTML pages, read in the encoding they declare; their fields come from
`text.page_fields`, parsed in the markup worker."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Iterator

from indexer.sources.bounded import read_document
from indexer.sources.isolation import isolated
from indexer.sources.records import Item, Rejected, to_record
from indexer.sources.text import HostileMarkup, page_fields

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# <meta charset="x"> or <meta http-equiv="Content-Type" content="text/html; charset=x">, which
# browsers look for in the first 1,024 bytes.
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# What browsers decode these labels as (WHATWG Encoding): Latin-1 and ASCII pages are
# windows-1252, a UTF-16 label in the page itself can only be UTF-8.
_LABEL_ALIASES = {**dict.fromkeys(("iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "ascii",
                                   "us-ascii", "windows-1252", "x-cp1252"), "cp1252"),
                  **dict.fromkeys(("utf-16", "utf-16le", "utf-16be"), "utf-8")}


class MalformedPage(ValueError):
    """A page whose bytes are not in the encoding it declares (or UTF-8)."""


def read_html(path: Path) -> Iterator[Item]:
    data = read_document(path)
    try:
        fields = isolated(page_fields, decode_page(data), path.stem)
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
