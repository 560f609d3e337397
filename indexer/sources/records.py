"""What readers yield, and helpers they share."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

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


def storable_problem(article: Article) -> str | None:
    """What would stop an otherwise valid Article from being stored and linked: text that is
    not valid Unicode (a lone surrogate, from a JSON "\\ud800" escape) or a url that is not
    a URL at all ("http://[")."""
    for f in fields(article):
        value = getattr(article, f.name)
        for text in value if isinstance(value, tuple) else (value,):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    return f"field '{f.name}' is not valid Unicode (a lone surrogate)"
    if article.url:
        try:
            urlsplit(article.url.strip())
        except ValueError as exc:
            return f"field 'url' is not a valid URL ({exc})"
    return None


def check_storable(articles: Iterable[Article]) -> None:
    """InvalidArticle naming the first article that cannot be stored."""
    for article in articles:
        problem = storable_problem(article)
        if problem:
            raise InvalidArticle(f"article {article.id!r}: {problem}")


def to_record(data: Any, location: str) -> Record | Rejected:
    try:
        article = Article.from_mapping(data)
    except InvalidArticle as exc:
        return Rejected(location, str(exc))
    except (ValueError, OverflowError, TypeError, RecursionError) as exc:  # e.g. an id of 10**400
        return Rejected(location, f"invalid record: {parse_problem(exc)}")
    problem = storable_problem(article)
    if problem:
        return Rejected(location, problem)
    return Record(article, location)


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


def parse_problem(exc: BaseException) -> str:
    """Why a parser gave up, for errors that are not its own syntax errors: a structure
    nested deeper than Python's recursion limit, a number too long to convert, a date
    that does not exist."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    message = str(exc).split(";")[0]
    if "integer string conversion" in message:
        return "a number has too many digits"
    return message


def first_value(data: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = data.get(name)
        if value not in (None, "", []):
            return value
    return None
