"""Markdown files with YAML (`---`) or TOML (`+++`) front matter, Hugo/Jekyll style.

Front matter names the article fields; common Hugo/Jekyll names are accepted too
(`date` for `published`, `description` for `summary`, `categories`, `slug`). The id
defaults to the file name. `draft: true` skips the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Iterator

import yaml
from markdown_it import MarkdownIt

from indexer.sources.records import Item, Rejected, Skipped, first_value, read_text, to_record
from indexer.sources.text import html_to_text

_markdown = MarkdownIt("commonmark", {"html": True}).enable("table")


def split_front_matter(text: str) -> tuple[str | None, str | None, str]:
    """(format, front matter, body); front matter is None when its closing fence is missing."""
    for fence, kind in (("---", "yaml"), ("+++", "toml")):
        if text.startswith(fence + "\n") or text.startswith(fence + "\r\n"):
            lines = text.splitlines(keepends=True)
            closers = (fence, "...") if kind == "yaml" else (fence,)
            for index in range(1, len(lines)):
                if lines[index].rstrip("\r\n") in closers:
                    return kind, "".join(lines[1:index]), "".join(lines[index + 1:])
            return kind, None, text
    return None, "", text


def read_markdown(path: Path) -> Iterator[Item]:
    try:
        text = read_text(path)
    except UnicodeDecodeError as exc:
        yield Rejected(str(path), f"not valid UTF-8 (byte {exc.start})")
        return
    kind, front, body = split_front_matter(text)
    if front is None:
        yield Rejected(f"{path}:1", "front matter is not closed (no second '---' line)")
        return
    try:
        meta = _parse_front_matter(kind, front)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        location = f"{path}:{line + 2}" if line is not None else f"{path}:1"
        yield Rejected(location, f"invalid front matter: {str(exc).splitlines()[0]}")
        return
    if not isinstance(meta, dict):
        yield Rejected(f"{path}:1", "front matter must be a mapping of field names to values")
        return
    if meta.get("draft") is True or str(meta.get("status", "")).lower() == "draft":
        yield Skipped(str(path), "draft")
        return
    yield to_record(_fields(meta, body, path), str(path))


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
    fields["body"] = html_to_text(_markdown.render(body))
    if not meta.get("title"):
        fields["title"] = _first_heading(body)
    return fields


def _first_heading(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None
