"""What readers yield, and helpers they share."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from search.article import MAX_SHORT_FIELD_CHARS, Article, InvalidArticle


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


# Every HTML element name, for `plain_title`: text that merely looks like a tag ("<vector>",
# "x < y > z") stays.
_HTML_ELEMENTS = (
    "a abbr acronym address area article aside audio b base basefont bdi bdo big blink blockquote body br "
    "button canvas caption center cite code col colgroup data datalist dd del details dfn dialog dir div dl dt "
    "em embed fieldset figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup "
    "hr html i iframe img input ins kbd label legend li link main map mark marquee math menu meta meter nav "
    "nobr noscript object ol optgroup option output p param picture pre progress q rp rt ruby s samp script "
    "search section select slot small source span strike strong style sub summary sup svg table tbody td "
    "template textarea tfoot th thead time title tr track tt u ul var video wbr"
).split()
_TITLE_TAG = re.compile(r"<!--.*?-->|</?(?:%s)(?:[\s/][^<>]*)?>" % "|".join(_HTML_ELEMENTS), re.IGNORECASE | re.DOTALL)


def plain_title(title: str) -> str:
    """A title as text, whatever the source made of it: WordPress titles are HTML
    ("Title <em>With</em> Markup"), exports escape entities ("Media &amp; Text")."""
    while True:  # until no tag is left: removing `<script>` from `<a title="<script>">` makes one
        stripped = _TITLE_TAG.sub(lambda tag: " " if tag[0][1:3].lower() == "br" else "", title)
        if stripped == title:
            return " ".join(html.unescape(title).split())
        title = stripped


def to_record(data: Any, location: str) -> Record | Rejected:
    title = data.get("title") if isinstance(data, Mapping) else None
    if isinstance(title, str) and len(title) <= MAX_SHORT_FIELD_CHARS:  # a longer one is refused anyway
        data = {**data, "title": plain_title(title)}
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
