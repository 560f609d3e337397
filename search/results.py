"""What the read side answers: requests and responses of search, related lists and
autocomplete, as plain values (the web layer and the CLI render them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from search.rules import Banner


class QueryError(ValueError):
    """The request is over a documented limit (HTTP 400)."""


@dataclass(frozen=True)
class SearchRequest:
    q: str = ""
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    sort: str = "relevance"
    page: int = 1
    per_page: int = 10
    exact: bool = False  # True: search the words as typed, no automatic correction
    facets: bool = True


@dataclass(frozen=True)
class Hit:
    id: str
    title: str
    title_html: str  # escaped, with <mark>
    snippet_html: str  # escaped, with <mark>
    url: str
    category: str
    tags: tuple[str, ...]
    published: dt.date | None
    score: float
    pinned: bool = False


@dataclass(frozen=True)
class Facet:
    key: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class SearchResponse:
    query: str
    total: int
    page: int
    per_page: int
    hits: list[Hit]
    facets: dict[str, list[Facet]] = field(default_factory=dict)
    corrected: str | None = None  # searched instead of `query`
    suggestion: str | None = None  # did you mean
    banners: list[Banner] = field(default_factory=list)
    sort: str = "relevance"
    took_ms: float = 0.0
    version: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class RelatedItem:
    id: str
    title: str
    url: str
    teaser: str
    score: float
    kind: str  # similar | pinned | fallback
    why: tuple[str, ...]
    category: str
    published: dt.date | None
    image: str
