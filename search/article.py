"""The Article record every source is turned into, and its validation."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from search.analysis import fold

MAX_ID_CHARS = 200
MAX_SHORT_FIELD_CHARS = 2_000
MAX_BODY_CHARS = 2_000_000
MAX_TAGS = 100

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SLUG_JUNK = re.compile(r"[^0-9a-z]+")


class InvalidArticle(ValueError):
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
        if not isinstance(data, Mapping):
            raise InvalidArticle(f"expected an object with fields, got {type(data).__name__}")
        if "title" not in data:
            raise InvalidArticle("missing required field 'title'")
        values: dict[str, Any] = {
            "id": _identifier(data.get("id"), "id"),
            "title": _text(data.get("title"), "title", MAX_SHORT_FIELD_CHARS),
        }
        for name in ("summary", "url", "category", "author", "image"):
            values[name] = _text(data.get(name), name, MAX_SHORT_FIELD_CHARS)
        values["body"] = _text(data.get("body"), "body", MAX_BODY_CHARS, keep_newlines=True)
        if not values["title"]:
            # An empty title (WordPress allows it) still needs something a reader can click.
            values["title"] = _first_words(values["summary"] or values["body"]) or f"Untitled ({values['id']})"
        values["tags"] = _labels(data.get("tags"), "tags")
        values["published"] = _date(data.get("published"))
        values["related_pins"] = tuple(_identifier(v, "related_pins") for v in _list(data.get("related_pins"), "related_pins"))
        values["related_blocks"] = tuple(_identifier(v, "related_blocks") for v in _list(data.get("related_blocks"), "related_blocks"))
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


def _identifier(value: Any, name: str) -> str:
    if isinstance(value, bool) or value is None:
        raise InvalidArticle(f"missing required field '{name}'")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str):
        raise InvalidArticle(f"field '{name}' must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise InvalidArticle(f"missing required field '{name}'")
    if len(value) > MAX_ID_CHARS:
        raise InvalidArticle(f"field '{name}' is longer than {MAX_ID_CHARS} characters")
    if _CONTROL_CHARS.search(value) or "\n" in value or "\r" in value or "\t" in value:
        raise InvalidArticle(f"field '{name}' contains control characters")
    return value


def _text(value: Any, name: str, limit: int, keep_newlines: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidArticle(f"field '{name}' must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidArticle(f"field '{name}' is longer than {limit:,} characters")
    value = _CONTROL_CHARS.sub("", value).replace("\r\n", "\n").replace("\r", "\n")
    if not keep_newlines:
        value = " ".join(value.split())
    return value.strip()


def _list(value: Any, name: str) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise InvalidArticle(f"field '{name}' must be a list or a comma-separated string")


def _labels(value: Any, name: str) -> tuple[str, ...]:
    labels = [_text(v, name, MAX_SHORT_FIELD_CHARS) for v in _list(value, name)]
    if len(labels) > MAX_TAGS:
        raise InvalidArticle(f"field '{name}' has more than {MAX_TAGS} entries")
    return tuple(dict.fromkeys(label for label in labels if label))


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    raise InvalidArticle(f"field 'published' must be an ISO date (YYYY-MM-DD), got {value!r}")
