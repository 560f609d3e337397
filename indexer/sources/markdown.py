"""Markdown files with YAML (`---`) or TOML (`+++`) front matter, Hugo/Jekyll style.

Front matter names the article fields; common Hugo/Jekyll names are accepted too
(`date` for `published`, `description` for `summary`, `categories`, `slug`). The id
defaults to the file name. `draft: true` skips the file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Iterator

import yaml

from indexer.sources.bounded import read_text
from indexer.sources.isolation import isolated
from indexer.sources.records import Item, Rejected, Skipped, first_value, parse_problem, to_record
from indexer.sources.text import HostileMarkup, markdown_to_text
from search.article import MAX_BODY_CHARS

# YAML aliases make a small front matter stand for a huge structure ("billion laughs"):
# more values than this, counting each alias as the copy it stands for, are refused.
MAX_FRONT_MATTER_VALUES = 10_000
# Parsing YAML takes about 2 s and 80 MB per MiB: real front matter is a few hundred bytes.
MAX_FRONT_MATTER_BYTES = 64 * 1024
_FENCES = {"---": ("yaml", re.compile(r"^(?:---|\.\.\.)\r?(?:\n|\Z)", re.MULTILINE)),
           "+++": ("toml", re.compile(r"^\+\+\+\r?(?:\n|\Z)", re.MULTILINE))}


class FrontMatterError(ValueError):
    """Front matter whose closing fence is missing, or longer than MAX_FRONT_MATTER_BYTES."""


def split_front_matter(text: str) -> tuple[str | None, str, str]:
    """(format, front matter, body); FrontMatterError when the closing fence is missing or
    the front matter is longer than MAX_FRONT_MATTER_BYTES."""
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if first_line not in _FENCES or "\n" not in text:
        return None, "", text
    kind, closer = _FENCES[first_line]
    start = text.index("\n") + 1
    end = closer.search(text, start)
    if end is None:
        raise FrontMatterError(f"front matter is not closed (no second '{first_line}' line)")
    if end.start() - start > MAX_FRONT_MATTER_BYTES:
        raise FrontMatterError(f"front matter is longer than {MAX_FRONT_MATTER_BYTES // 1024} KiB")
    return kind, text[start:end.start()], text[end.end():]


def read_markdown(path: Path) -> Iterator[Item]:
    try:
        text = read_text(path)
    except UnicodeDecodeError as exc:
        yield Rejected(str(path), f"not valid UTF-8 (byte {exc.start})")
        return
    try:
        kind, front, body = split_front_matter(text)
    except FrontMatterError as exc:
        yield Rejected(f"{path}:1", str(exc))
        return
    try:
        meta = _parse_front_matter(kind, front)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        location = f"{path}:{line + 2}" if line is not None else f"{path}:1"
        yield Rejected(location, f"invalid front matter: {(str(exc).splitlines() or [type(exc).__name__])[0]}")
        return
    except (ValueError, RecursionError) as exc:  # a date that does not exist, a huge number, deep nesting
        yield Rejected(f"{path}:1", f"invalid front matter: {parse_problem(exc)}")
        return
    if not isinstance(meta, dict):
        yield Rejected(f"{path}:1", "front matter must be a mapping of field names to values")
        return
    if _too_many_values(meta, MAX_FRONT_MATTER_VALUES):
        yield Rejected(f"{path}:1", f"front matter holds more than {MAX_FRONT_MATTER_VALUES:,} values "
                                    "(YAML aliases are counted as the copies they stand for)")
        return
    if len(body) > MAX_BODY_CHARS:
        yield Rejected(str(path), f"body is longer than {MAX_BODY_CHARS:,} characters")
        return
    if meta.get("draft") is True or str(meta.get("status", "")).lower() == "draft":
        yield Skipped(str(path), "draft")
        return
    try:
        fields = _fields(meta, body, path)
    except HostileMarkup as exc:
        yield Rejected(str(path), str(exc))
        return
    yield to_record(fields, str(path))


def _too_many_values(value: Any, limit: int) -> bool:
    """Whether `value` expands to more than `limit` values. Aliased parts are shared objects,
    so sizes are computed once per object; a structure that contains itself is too many."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(item: Any) -> int:
        if not isinstance(item, (list, dict)):
            return 1
        key = id(item)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            return limit + 1  # recursive
        in_progress.add(key)
        children = list(item.keys()) + list(item.values()) if isinstance(item, dict) else item
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                break
        in_progress.discard(key)
        sizes[key] = total
        return total

    try:
        return size(value) > limit
    except RecursionError:
        return True


def _parse_front_matter(kind: str | None, front: str) -> Any:
    if kind == "yaml":
        return yaml.safe_load(front) or {}
    if kind == "toml":
        return tomllib.loads(front)
    return {}


def _fields(meta: dict[str, Any], body: str, path: Path) -> dict[str, Any]:
    fields = dict(meta)
    fields["id"] = first_value(meta, "id", "slug") or path.stem
    fields["summary"] = first_value(meta, "summary", "description", "excerpt")
    fields["published"] = first_value(meta, "published", "date")
    categories = meta.get("categories")
    if not meta.get("category") and isinstance(categories, list) and categories:
        fields["category"] = categories[0]
    fields["body"] = isolated(markdown_to_text, body)
    if not meta.get("title"):
        fields["title"] = _first_heading(body)
    return fields


def _first_heading(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None
