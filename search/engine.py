"""The Engine protocol: what a search backend must do, and the small query tree it receives.

Queries reach engines already parsed, analyzed and expanded (synonyms, spelling, prefixes)
into an `EngineQuery`, so the query language lives once, above the engines. Documents,
suggestions and related lists live in the version's store, so engines only index and rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Protocol, Sequence

from search.deadline import Deadline
from search.document import IndexDoc


def bm25_idf(doc_frequency: int, doc_count: int) -> float:
    """Lucene's BM25 idf, which tantivy uses too: every engine scores alike."""
    return math.log(1 + (doc_count - doc_frequency + 0.5) / (doc_frequency + 0.5))


@dataclass(frozen=True)
class Ranking:
    """BM25 parameters (k1 and b are fixed in tantivy; Whoosh follows them for parity)."""

    k1: float = 1.2
    b: float = 0.75

    @classmethod
    def from_settings(cls, settings) -> "Ranking":
        return cls(k1=settings.search_k1, b=settings.search_b)


@dataclass(frozen=True, slots=True)
class TermQuery:
    term: str
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class PhraseQuery:
    terms: tuple[str, ...]
    boost: float = 1.0


Alternative = TermQuery | PhraseQuery


# A concept scores as its best-matching alternative plus this share of the others, so a
# page that says "weed, pot, cannabis and marijuana" does not outrank one about the topic.
ALTERNATIVES_TIEBREAK = 0.1


@dataclass(frozen=True, slots=True)
class Concept:
    """One thing the reader asked for: any alternative may match (a word, its synonyms,
    its spelling correction, a prefix's completions). Engines score it as a disjunction-max
    of its alternatives with ALTERNATIVES_TIEBREAK."""

    alternatives: tuple[Alternative, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class EngineQuery:
    should: tuple[Concept, ...] = ()  # scored; documents matching more of them rank higher
    must: tuple[Concept, ...] = ()  # required (quoted phrases)
    must_not: tuple[Concept, ...] = ()  # excluded
    categories: tuple[str, ...] = ()  # category keys: any of them
    tags: tuple[str, ...] = ()  # tag keys: all of them
    not_categories: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    sort: Literal["relevance", "date"] = "relevance"
    offset: int = 0
    limit: int = 10
    facets: bool = False
    count: bool = True  # exact total of matches (costly in Whoosh on broad queries)

    @property
    def matches_everything(self) -> bool:
        return not (self.should or self.must)


@dataclass(frozen=True, slots=True)
class EngineHit:
    id: str
    score: float


@dataclass(frozen=True)
class EngineResults:
    hits: list[EngineHit]
    total: int
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


class Engine(Protocol):
    """One open index. Writers and readers are the same object; writes are serialized
    by the caller (indexer.locks), so engines never see two writers at once.

    search(): relevance order is BM25 (Lucene idf); sort="date" is newest first, equal
    dates by score, then index order, with hit scores 0.0. Facets count every matching
    document, sorted by count (descending) then key."""

    name: str

    @classmethod
    def create(cls, path: Path, ranking: Ranking) -> "Engine":
        """A new, empty index at path."""

    @classmethod
    def open(cls, path: Path, ranking: Ranking) -> "Engine": ...

    def add(self, docs: Iterable[IndexDoc]) -> int:
        """Bulk-add documents to a fresh index and commit; returns the count."""

    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        """Replace (or add) documents by id and commit."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents by id and commit; unknown ids are ignored."""

    def search(self, query: EngineQuery, deadline: Deadline | None = None) -> EngineResults:
        """Raises SearchTimeout once `deadline` has passed (checked as often as the engine can)."""

    def rescore(self, concepts: Sequence[Concept], ids: Sequence[str]) -> dict[str, float]:
        """What the given concepts (scored as `should` clauses) add to each given document;
        documents matching none are left out. For re-ranking a short list cheaply."""

    def doc_frequency(self, term: str) -> int:
        """Documents containing the analyzed term in any text field (upper bound is fine)."""

    def doc_count(self) -> int: ...

    def ids(self) -> set[str]:
        """Every live document's id (reads them all: for consistency checks)."""

    def refresh(self) -> None:
        """See the latest commit (cheap when nothing changed)."""

    def close(self) -> None: ...
