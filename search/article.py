"""The Article record every source is turned into, and its validation."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from search.analysis import fold
from search.fields import Date, Identifier, InvalidRecord, Listing, Record, Text

MAX_ID_CHARS = 200
MAX_SHORT_FIELD_CHARS = 2_000
MAX_BODY_CHARS = 2_000_000
MAX_TAGS = 100
MAX_RELATED_CONTROLS = 100  # related_pins, related_blocks

_SLUG_JUNK = re.compile(r"[^0-9a-z]+")


class InvalidArticle(InvalidRecord):
    """A record that cannot become an Article; the message says which field and why."""


def slugify(value: str) -> str:
    """Lower-case key for categories and tags: 'Harm Reduction' -> 'harm-reduction'."""
    return _SLUG_JUNK.sub("-", fold(value).lower()).strip("-")


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    body: str = ""
    summary: str = ""
    url: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    author: str = ""
    published: dt.date | None = None
    image: str = ""
    # Editor controls for the related list (front matter `related_pins`, `related_blocks`).
    related_pins: tuple[str, ...] = ()
    related_blocks: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "Article":
        """Validate a loose mapping (JSON, CSV row, front matter); unknown keys are ignored."""
        values = ARTICLE_FIELDS.validate(data)
        if not values["title"]:
            # An empty title (WordPress allows it) still needs something a reader can click.
            values["title"] = _first_words(values["summary"] or values["body"]) or f"Untitled ({values['id']})"
        return cls(**values)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> "Article":
        """An Article from its own `to_dict()`, as the store keeps it. It was validated when
        written, so only the types JSON lost are restored: reads are on every request's path."""
        values = {name: data[name] for name in _FIELD_NAMES if name in data}
        for name in ("tags", "related_pins", "related_blocks"):
            values[name] = tuple(values.get(name) or ())
        published = values.get("published")
        values["published"] = dt.date.fromisoformat(published) if published else None
        return cls(**values)

    @property
    def category_key(self) -> str:
        return slugify(self.category) if self.category else ""

    @property
    def tag_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for k in (slugify(t) for t in self.tags) if k))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping that `from_mapping` reads back into an equal Article."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dt.date):
                value = value.isoformat()
            out[f.name] = value
        return out

    def card(self) -> dict[str, Any]:
        """`to_dict()` without the body: what a result or a related item shows of it."""
        out = self.to_dict()
        del out["body"]
        return out


_FIELD_NAMES = tuple(f.name for f in fields(Article))

# What an article may hold: from_mapping validates with it, and the OpenAPI document's
# Article schema is made from it (ARTICLE_FIELDS.schema()).
ARTICLE_FIELDS = Record(
    {
        "id": Identifier(MAX_ID_CHARS),
        "title": Text(MAX_SHORT_FIELD_CHARS),
        "body": Text(MAX_BODY_CHARS, keep_newlines=True),
        "summary": Text(MAX_SHORT_FIELD_CHARS),
        "url": Text(MAX_SHORT_FIELD_CHARS),
        "category": Text(MAX_SHORT_FIELD_CHARS),
        "tags": Listing(Text(MAX_SHORT_FIELD_CHARS), MAX_TAGS),
        "author": Text(MAX_SHORT_FIELD_CHARS),
        "published": Date(),
        "image": Text(MAX_SHORT_FIELD_CHARS),
        "related_pins": Listing(Identifier(MAX_ID_CHARS), MAX_RELATED_CONTROLS),
        "related_blocks": Listing(Identifier(MAX_ID_CHARS), MAX_RELATED_CONTROLS),
    },
    required=("id", "title"),
    error=InvalidArticle,
)

HEADING_MARK = "## "
ITEM_MARK = "- "


def blocks(body: str) -> list[tuple[str, str]]:
    """The body as ("heading" | "item" | "paragraph", text) blocks, in order."""
    out = []
    for paragraph in body.split("\n\n"):
        paragraph = paragraph.strip()
        if paragraph.startswith(HEADING_MARK):
            out.append(("heading", paragraph[len(HEADING_MARK):]))
        elif paragraph.startswith(ITEM_MARK):
            out.append(("item", paragraph[len(ITEM_MARK):]))
        elif paragraph:
            out.append(("paragraph", paragraph))
    return out


def reading_text(body: str) -> str:
    """The body as running text for snippets and teasers: marks gone, headings and list
    items ended like sentences so they do not run into the next one."""
    parts = []
    for _, text in blocks(body):
        parts.append(text if text[-1:] in ".!?:;" else text + ".")
    return " ".join(parts)


def _first_words(text: str, count: int = 8) -> str:
    words = text.split()
    return " ".join(words[:count]) + ("\u2026" if len(words) > count else "")
