"""Declared record fields: one declaration gives both a record's validation and its JSON Schema.

A record (an article, a reader event) is a `Record` of named field kinds. Each kind checks
and normalizes a loose value (JSON, a CSV cell, YAML front matter) and describes exactly
what it accepts as JSON Schema, so the OpenAPI document cannot drift from the checks:
schemathesis generates requests from that schema and the server must agree with it both
ways (what the schema allows is accepted, what it forbids is refused).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

# What counts as blank around an id: JavaScript's \s (which JSON Schema patterns follow)
# plus U+0085, which Python strips too. Spelled out so Python and JavaScript agree.
BLANKS = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
          "\u2028\u2029\u202f\u205f\u3000\ufeff")
_ID_CONTROLS = "\\x00-\\x1f\\x7f"
_ID_CONTROL = re.compile(f"[{_ID_CONTROLS}]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks are whitespace
_BLANK_CLASS = "".join(f"\\u{ord(c):04x}" for c in BLANKS)
_DOT_SEGMENT = f"[{_BLANK_CLASS}]*\\.\\.?[{_BLANK_CLASS}]*"  # "." or "..", blanks around
# Names no URL path segment can carry: browsers resolve them as "this" and "parent" directory.
DOT_SEGMENTS = (".", "..")
# Numbers that stand for text (a year as a title, a WordPress post id) are taken up to this
# size; anything larger is no one's id or title.
MAX_NUMBER = 10**15
_NUMBER_RANGE = {"minimum": -MAX_NUMBER, "maximum": MAX_NUMBER}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and -MAX_NUMBER <= value <= MAX_NUMBER


class InvalidRecord(ValueError):
    """A value a field does not accept; the message names the field and says why."""


class Kind(Protocol):
    def validate(self, value: Any, name: str) -> Any: ...

    def schema(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Text:
    """Text up to `max_chars` characters: control characters dropped, whitespace collapsed
    (line breaks kept with `keep_newlines`). Absent or null is empty text."""

    max_chars: int
    keep_newlines: bool = False
    numbers: bool = True  # numbers become text (YAML front matter `title: 2024`)

    def validate(self, value: Any, name: str) -> str:
        if value is None:
            return ""
        if self.numbers and _is_number(value):
            value = str(value)
        if not isinstance(value, str):
            raise InvalidRecord(f"field '{name}' must be text, got {type(value).__name__}")
        if len(value) > self.max_chars:
            raise InvalidRecord(f"field '{name}' is longer than {self.max_chars:,} characters")
        value = _TEXT_CONTROL.sub("", value).replace("\r\n", "\n").replace("\r", "\n")
        if not self.keep_newlines:
            value = " ".join(value.split())
        return value.strip()

    def schema(self) -> dict[str, Any]:
        if not self.numbers:
            return {"type": ["string", "null"], "maxLength": self.max_chars}
        return {"type": ["string", "number", "null"], "maxLength": self.max_chars, **_NUMBER_RANGE}


@dataclass(frozen=True)
class Identifier:
    """An id: up to `max_chars` characters, no control characters, blanks around it dropped,
    not empty and not a dot segment. Whole numbers become text (`163` is `"163"`)."""

    max_chars: int
    optional: bool = False  # absent or null is None instead of an error

    def validate(self, value: Any, name: str) -> str | None:
        if value is None and self.optional:
            return None
        if value is None:
            raise InvalidRecord(f"missing required field '{name}'")
        if _is_number(value) and float(value).is_integer():
            value = str(int(value))
        if not isinstance(value, str):
            raise InvalidRecord(f"field '{name}' must be a string, got {type(value).__name__}")
        if len(value) > self.max_chars:
            raise InvalidRecord(f"field '{name}' is longer than {self.max_chars} characters")
        if _ID_CONTROL.search(value):
            raise InvalidRecord(f"field '{name}' contains control characters")
        value = value.strip(BLANKS)
        if not value:
            raise InvalidRecord(f"missing required field '{name}'")
        if value in DOT_SEGMENTS:
            raise InvalidRecord(f"field '{name}' cannot be {value!r}: no link could point at it")
        return value

    def schema(self) -> dict[str, Any]:
        return {
            "type": ["string", "integer", "null"] if self.optional else ["string", "integer"],
            "maxLength": self.max_chars, **_NUMBER_RANGE,
            "pattern": f"^[^{_ID_CONTROLS}]*[^{_ID_CONTROLS}{_BLANK_CLASS}][^{_ID_CONTROLS}]*$",
            "not": {"type": "string", "pattern": f"^{_DOT_SEGMENT}$"},
        }


@dataclass(frozen=True)
class Listing:
    """A list of `item`s (at most `max_items`; repeats and empty items dropped), or, with
    `comma_separated`, the same as one comma-separated string (a CSV cell)."""

    item: Text | Identifier
    max_items: int
    comma_separated: bool = True

    def validate(self, value: Any, name: str) -> tuple:
        if value is None or (value == "" and self.comma_separated):
            return ()
        if isinstance(value, str) and self.comma_separated:
            parts = [p for p in value.split(",") if p.strip(BLANKS)]
            count = value.count(",") + 1
        elif isinstance(value, (list, tuple)):
            parts, count = list(value), len(value)
        else:
            form = "a list or a comma-separated string" if self.comma_separated else "a list"
            raise InvalidRecord(f"field '{name}' must be {form}")
        if count > self.max_items:
            raise InvalidRecord(f"field '{name}' has more than {self.max_items} entries")
        return tuple(dict.fromkeys(v for v in (self.item.validate(p, name) for p in parts) if v))

    def schema(self) -> dict[str, Any]:
        forms: list[dict[str, Any]] = [
            {"type": "array", "maxItems": self.max_items, "items": self.item.schema()}, {"type": "null"}]
        if self.comma_separated:
            part = f"[^,]{{0,{self.item.max_chars}}}"
            if isinstance(self.item, Identifier):  # ids: no control characters, no dot segment
                part = f"(?!{_DOT_SEGMENT}(?:,|$))[^,{_ID_CONTROLS}]{{0,{self.item.max_chars}}}"
            forms.append({"type": "string", "pattern": f"^{part}(,{part}){{0,{self.max_items - 1}}}$",
                          "description": "Comma-separated."})
        return {"anyOf": forms}


@dataclass(frozen=True)
class Date:
    """A calendar date: an ISO date, or a date-time whose date is taken. Empty is None."""

    def validate(self, value: Any, name: str) -> dt.date | None:
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
        raise InvalidRecord(f"field '{name}' must be an ISO date (YYYY-MM-DD), got {value!r}"[:300])

    def schema(self) -> dict[str, Any]:
        return {"type": ["string", "null"], "anyOf": [{"format": "date"}, {"format": "date-time"}, {"maxLength": 0}]}


@dataclass(frozen=True)
class Integer:
    """A whole number from `minimum` to `maximum` (2.0 is 2; true, 1.5 and 1e999 are not)."""

    minimum: int
    maximum: int
    optional: bool = True

    def validate(self, value: Any, name: str) -> int | None:
        if value is None and self.optional:
            return None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRecord(f"field '{name}' must be a whole number")
        if not self.minimum <= value <= self.maximum:
            raise InvalidRecord(f"field '{name}' must be from {self.minimum} to {self.maximum}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": ["integer", "null"] if self.optional else "integer",
                "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Choice:
    """One of a few strings."""

    values: tuple[str, ...]

    def validate(self, value: Any, name: str) -> str:
        if value not in self.values or not isinstance(value, str):
            raise InvalidRecord(f"field '{name}' must be one of {list(self.values)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}


@dataclass(frozen=True)
class Record:
    """Named fields; `required` names must be present. Unknown keys are ignored."""

    fields: Mapping[str, Kind]
    required: tuple[str, ...] = ()
    error: type[InvalidRecord] = InvalidRecord

    def validate(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise self.error(f"expected an object with fields, got {type(data).__name__}")
        for name in self.required:
            if name not in data:
                raise self.error(f"missing required field '{name}'")
        try:
            return {name: kind.validate(data.get(name), name) for name, kind in self.fields.items()}
        except InvalidRecord as exc:
            raise self.error(str(exc)) from None

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "required": list(self.required),
                "properties": {name: kind.schema() for name, kind in self.fields.items()}}
