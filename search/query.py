"""The reader's query language, parsed into a small, engine-neutral structure.

    ketamine therapy        plain words: any may match, documents matching more rank higher
    "special k"             an exact phrase (required)
    -alcohol  -"hangover"   exclude a word or a phrase
    canna*                  prefix
    category:cannabis  tag:"harm reduction"   filters (also cat:, tags:)
    -category:news          exclude a category or tag

Parsing never fails: unbalanced quotes run to the end, lone operators are ignored,
control characters are dropped, unknown `field:` prefixes are read as plain words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from search.article import slugify

_FIELDS = {"category": "category", "cat": "category", "tag": "tag", "tags": "tag"}
_TOKEN = re.compile(
    r"""(?P<neg>-+)?(?:(?P<field>[A-Za-z]+):)?(?:"(?P<quoted>[^"]*)(?:"|$)|(?P<bare>[^\s"]+))""",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})


@dataclass(frozen=True)
class ParsedQuery:
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    not_categories: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()

    @property
    def has_terms(self) -> bool:
        return bool(self.words or self.phrases or self.prefixes)

    def text(self) -> str:
        """A canonical spelling of the query (cache keys, analytics, 'search instead')."""
        parts = list(self.words)
        parts += [f'"{p}"' for p in self.phrases]
        parts += [f"{p}*" for p in self.prefixes]
        parts += [f'-"{e}"' if " " in e else f"-{e}" for e in self.excluded]
        parts += [f"category:{c}" for c in self.categories]
        parts += [f"tag:{t}" for t in self.tags]
        parts += [f"-category:{c}" for c in self.not_categories]
        parts += [f"-tag:{t}" for t in self.not_tags]
        return " ".join(parts)


def clean(raw: str) -> str:
    return " ".join(_CONTROL.sub(" ", raw.translate(_QUOTES)).split())


def parse(raw: str) -> ParsedQuery:
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    prefixes: list[str] = []
    filters: dict[tuple[str, bool], list[str]] = {}
    for match in _TOKEN.finditer(clean(raw)):
        negated = bool(match.group("neg"))
        field = (match.group("field") or "").lower()
        quoted = match.group("quoted")
        value = (quoted if quoted is not None else match.group("bare") or "").strip()
        if field and field not in _FIELDS:
            # Not a filter we know ("ratio:1", "http://..."): read it all as words.
            value = f"{match.group('field')} {value}"
            field = ""
        if not value.strip("-*"):
            continue  # a lone operator
        if field:
            key = slugify(value)
            if key:
                filters.setdefault((_FIELDS[field], negated), []).append(key)
        elif negated:
            excluded.append(value)
        elif quoted is not None:
            phrases.append(value)
        elif value.endswith("*") and len(value.rstrip("*")) >= 2 and " " not in value:
            prefixes.append(value.rstrip("*"))
        else:
            words.append(value)
    return ParsedQuery(
        words=tuple(words),
        phrases=tuple(phrases),
        excluded=tuple(excluded),
        prefixes=tuple(prefixes),
        categories=tuple(dict.fromkeys(filters.get(("category", False), ()))),
        tags=tuple(dict.fromkeys(filters.get(("tag", False), ()))),
        not_categories=tuple(dict.fromkeys(filters.get(("category", True), ()))),
        not_tags=tuple(dict.fromkeys(filters.get(("tag", True), ()))),
    )
