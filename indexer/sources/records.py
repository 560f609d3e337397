"""What readers yield, and helpers they share."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping

from search.article import Article, InvalidArticle


@dataclass(frozen=True, slots=True)
class Record:
    article: Article
    location: str  # "path:line" or "path: record N"


@dataclass(frozen=True, slots=True)
class Rejected:
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True, slots=True)
class Skipped:
    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: skipped ({self.reason})"


Item = Record | Rejected | Skipped


def to_record(data: Any, location: str) -> Record | Rejected:
    try:
        return Record(Article.from_mapping(data), location)
    except InvalidArticle as exc:
        return Rejected(location, str(exc))


def open_binary(path: Path) -> BinaryIO:
    """Open a file, transparently un-gzipping `*.gz`."""
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def read_text(path: Path) -> str:
    """Whole-file text; invalid UTF-8 raises UnicodeDecodeError with its byte offset."""
    with open_binary(path) as fh:
        data = fh.read()
    return data.decode("utf-8-sig")


def read_text_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) per line; text is None where the line is not valid UTF-8."""
    with open_binary(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None


def first_value(data: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = data.get(name)
        if value not in (None, "", []):
            return value
    return None
