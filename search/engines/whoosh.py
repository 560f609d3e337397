"""The Whoosh engine (pure Python, the default). The only module that imports whoosh."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh import scoring, sorting
from whoosh.analysis import Token, Tokenizer
from whoosh.fields import ID, KEYWORD, NUMERIC, TEXT, Schema

from search import analysis
from search.engine import (
    TEXT_FIELDS,
    Concept,
    EngineHit,
    EngineQuery,
    EngineResults,
    IndexDoc,
    PhraseQuery,
    Ranking,
)

INDEX_NAME = "kindred"
BULK_LIMIT_MB = 256


class KindredAnalyzer(Tokenizer):
    """The project analyzer as a Whoosh analyzer, so the schema describes itself.

    The build path hands Whoosh pre-analyzed term lists (analysis happens once per
    article), so this runs only for strings given to Whoosh directly. Module-level
    because Whoosh pickles the schema; indexes are opened with the schema passed in.
    """

    def __call__(self, value: str, positions: bool = False, chars: bool = False, keeporiginal: bool = False,
                 removestops: bool = True, start_pos: int = 0, start_char: int = 0, mode: str = "",
                 **kwargs: Any) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for tok in analysis.tokens(value):
            token.text = tok.term
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = tok.surface
            if positions:
                token.pos = start_pos + tok.position
            if chars:
                token.startchar = start_char + tok.start
                token.endchar = start_char + tok.end
            yield token


def build_schema() -> Schema:
    text = dict(analyzer=KindredAnalyzer(), phrase=True, stored=False)
    return Schema(
        id=ID(stored=True, unique=True),
        title=TEXT(**text),
        labels=TEXT(**text),
        summary=TEXT(**text),
        body=TEXT(**text),
        category=ID(sortable=True),
        tags=KEYWORD(scorable=False),
        published=NUMERIC(int, bits=32, signed=False, sortable=True),
    )


SCHEMA = build_schema()


def _fields(doc: IndexDoc) -> dict[str, Any]:
    values: dict[str, Any] = {"id": doc.id, "published": doc.published}
    for name in TEXT_FIELDS:
        terms = doc.fields.get(name)
        if terms:
            values[name] = terms  # a list bypasses the analyzer: already analyzed
    if doc.category:
        values["category"] = doc.category
    if doc.tags:
        values["tags"] = list(doc.tags)
    return values


def _ranked(counts: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(((value, n) for value, n in counts if value), key=lambda item: (-item[1], item[0]))


class WhooshEngine:
    name = "whoosh"

    def __init__(self, ix: whoosh_index.Index, ranking: Ranking):
        self._ix = ix
        self._ranking = ranking
        self._weighting = scoring.BM25F(B=ranking.b, K1=ranking.k1)
        self._searcher = ix.searcher(weighting=self._weighting)
        self._doc_tags: dict[int, list[str]] | None = None

    @classmethod
    def create(cls, path: Path, ranking: Ranking) -> "WhooshEngine":
        path.mkdir(parents=True, exist_ok=True)
        return cls(whoosh_index.create_in(str(path), SCHEMA, indexname=INDEX_NAME), ranking)

    @classmethod
    def open(cls, path: Path, ranking: Ranking) -> "WhooshEngine":
        return cls(whoosh_index.open_dir(str(path), indexname=INDEX_NAME, schema=SCHEMA), ranking)

    # Writes -------------------------------------------------------------------

    def add(self, docs: Iterable[IndexDoc]) -> int:
        writer = self._ix.writer(limitmb=BULK_LIMIT_MB)
        count = 0
        try:
            for doc in docs:
                writer.add_document(**_fields(doc))
                count += 1
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        self.refresh()
        return count

    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        writer = self._ix.writer()
        try:
            for doc in docs:
                writer.update_document(**_fields(doc))
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        self.refresh()

    def delete(self, ids: Sequence[str]) -> None:
        writer = self._ix.writer()
        try:
            for doc_id in ids:
                writer.delete_by_term("id", doc_id)
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        self.refresh()

    # Reads --------------------------------------------------------------------

    def refresh(self) -> None:
        old = self._searcher
        if old.up_to_date():
            return
        # Not Searcher.refresh(): its segment reuse misses new deletions in a kept
        # segment and fails on an empty index. Commits are rare; reopening is cheap.
        self._searcher = self._ix.searcher(weighting=self._weighting)
        self._doc_tags = None
        old.close()

    def doc_count(self) -> int:
        return self._searcher.doc_count()

    def doc_frequency(self, term: str) -> int:
        # The largest per-field count: a cheap upper bound of the union, exact enough for idf.
        return max(self._searcher.doc_frequency(name, term) for name in TEXT_FIELDS)

    def search(self, query: EngineQuery) -> EngineResults:
        searcher = self._searcher
        kwargs: dict[str, Any] = {"limit": query.offset + query.limit}
        flt = self._filter(query)
        if flt is not None:
            kwargs["filter"] = flt
        mask = self._mask(query)
        if mask is not None:
            kwargs["mask"] = mask
        if query.sort == "date":
            kwargs["sortedby"] = [sorting.FieldFacet("published", reverse=True), sorting.ScoreFacet()]
        if query.facets:
            kwargs["groupedby"] = {"category": sorting.FieldFacet("category", maptype=sorting.Count)}
        results = searcher.search(self._query(query), **kwargs)
        by_relevance = query.sort == "relevance"
        hits = [
            # With a sort order, Whoosh reports sort keys, not scores.
            EngineHit(searcher.stored_fields(docnum)["id"], float(score) if by_relevance else 0.0)
            for score, docnum in results.top_n[query.offset:query.offset + query.limit]
        ]
        facets = {}
        if query.facets:
            facets["category"] = _ranked(results.groups("category").items())
            facets["tags"] = _ranked(self._tag_counts(results.docs()))
        return EngineResults(hits=hits, total=len(results), facets=facets)

    def _tag_counts(self, docnums: Iterable[int]) -> Iterable[tuple[str, int]]:
        # Whoosh's overlapping facets need term vectors, which break on segments without
        # tags; instead keep each document's tags, read once per searcher.
        if self._doc_tags is None:
            reader = self._searcher.reader()
            doc_tags: dict[int, list[str]] = {}
            for tag in reader.field_terms("tags"):
                for docnum in reader.postings("tags", tag).all_ids():
                    doc_tags.setdefault(docnum, []).append(tag)
            self._doc_tags = doc_tags
        doc_tags = self._doc_tags
        return Counter(tag for docnum in docnums for tag in doc_tags.get(docnum, ())).items()

    def close(self) -> None:
        self._searcher.close()
        self._ix.close()

    # Query translation ----------------------------------------------------------

    def _alternative(self, alt, weight: float) -> list[wq.Query]:
        boosts = self._ranking.boosts
        clauses: list[wq.Query] = []
        for name in TEXT_FIELDS:
            boost = boosts.get(name, 1.0) * alt.boost * weight
            if isinstance(alt, PhraseQuery) and len(alt.terms) > 1:
                clauses.append(wq.Phrase(name, list(alt.terms), boost=boost))
            else:
                term = alt.terms[0] if isinstance(alt, PhraseQuery) else alt.term
                clauses.append(wq.Term(name, term, boost=boost))
        return clauses

    def _concept(self, concept: Concept) -> wq.Query:
        clauses = [c for alt in concept.alternatives for c in self._alternative(alt, concept.weight)]
        return clauses[0] if len(clauses) == 1 else wq.Or(clauses)

    def _query(self, query: EngineQuery) -> wq.Query:
        should = [self._concept(c) for c in query.should]
        must = [self._concept(c) for c in query.must]
        scale = self._ranking.coordination or None
        scored: wq.Query
        if must and should:
            scored = wq.AndMaybe(wq.And(must), wq.Or(should, scale=scale))
        elif must:
            scored = wq.And(must)
        elif should:
            scored = wq.Or(should, scale=scale) if len(should) > 1 else should[0]
        else:
            scored = wq.Every()
        if query.must_not:
            scored = wq.AndNot(scored, wq.Or([self._concept(c) for c in query.must_not]))
        return scored

    @staticmethod
    def _filter(query: EngineQuery) -> wq.Query | None:
        parts: list[wq.Query] = []
        if query.categories:
            parts.append(wq.Or([wq.Term("category", c) for c in query.categories]))
        parts.extend(wq.Term("tags", t) for t in query.tags)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else wq.And(parts)

    @staticmethod
    def _mask(query: EngineQuery) -> wq.Query | None:
        parts = [wq.Term("category", c) for c in query.not_categories]
        parts += [wq.Term("tags", t) for t in query.not_tags]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else wq.Or(parts)
