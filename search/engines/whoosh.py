"""The Whoosh engine (pure Python, the default). The only module that imports whoosh."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec, W3Segment
from whoosh import query as wq
from whoosh import scoring, sorting
from whoosh.analysis import Token, Tokenizer
from whoosh.fields import ID, KEYWORD, NUMERIC, TEXT, Schema
from whoosh.matching.binary import DisjunctionMaxMatcher

from search import analysis
from search.engine import (
    ALTERNATIVES_TIEBREAK,
    Concept,
    EngineHit,
    EngineQuery,
    EngineResults,
    IndexDoc,
    PhraseQuery,
    Ranking,
    TermQuery,
    bm25_idf,
)

INDEX_NAME = "kindred"
BULK_LIMIT_MB = 256
DOCSET_CACHE_TERMS = 20_000


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


class _DisMaxMatcher(DisjunctionMaxMatcher):
    """Whoosh's DisjunctionMaxMatcher scores a document with the other branch's posting
    when the two branches stand on different documents, and ignores `tiebreak`. This
    scores only the branches on the current document: the best plus tiebreak x the other."""

    def __init__(self, a, b, tiebreak: float = ALTERNATIVES_TIEBREAK):
        super().__init__(a, b, tiebreak=tiebreak)

    def _combine(self, x: float, y: float) -> float:
        return max(x, y) + self.tiebreak * min(x, y)

    def score(self) -> float:
        a, b = self.a, self.b
        if not a.is_active():
            return b.score()
        if not b.is_active():
            return a.score()
        if a.id() < b.id():
            return a.score()
        if b.id() < a.id():
            return b.score()
        return self._combine(a.score(), b.score())

    def max_quality(self) -> float:
        return self._combine(self.a.max_quality(), self.b.max_quality())

    def block_quality(self) -> float:
        return self._combine(self.a.block_quality(), self.b.block_quality())


class _DisMax(wq.DisjunctionMax):
    def _matcher(self, subs, searcher, context):
        return self._tree_matcher(subs, _DisMaxMatcher, searcher, context,
                                  lambda q: q.estimate_size(searcher.reader()), tiebreak=self.tiebreak)


class _UniqueSegmentCodec(W3Codec):
    """Whoosh names segments with the global `random` module, so a process that seeds it
    (test frameworks, some libraries) reuses names and a commit fails. Use the OS's
    randomness instead."""

    def new_segment(self, storage, indexname):
        return W3Segment(self, indexname, segid=secrets.token_hex(8))


class LuceneBM25(scoring.BM25F):
    """Whoosh's BM25 with Lucene's idf (Whoosh's own differs): the engines rank alike."""

    def idf(self, searcher, fieldname: str, text: str) -> float:
        parent = searcher.get_parent()
        return bm25_idf(parent.doc_frequency(fieldname, text), parent.doc_count_all())


def build_schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        content=TEXT(analyzer=KindredAnalyzer(), phrase=True, stored=False),
        category=ID(sortable=True),
        tags=KEYWORD(scorable=False),
        published=NUMERIC(int, bits=32, signed=False, sortable=True),
    )


SCHEMA = build_schema()


def _fields(doc: IndexDoc) -> dict[str, Any]:
    values: dict[str, Any] = {"id": doc.id, "published": doc.published}
    if doc.terms:
        values["content"] = doc.terms  # a list bypasses the analyzer: already analyzed
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
        self._weighting = LuceneBM25(B=ranking.b, K1=ranking.k1)
        self._searcher = ix.searcher(weighting=self._weighting)
        self._docsets: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._labels: tuple[sp.csr_matrix, list[str], sp.csr_matrix, list[str]] | None = None

    @classmethod
    def create(cls, path: Path, ranking: Ranking) -> "WhooshEngine":
        path.mkdir(parents=True, exist_ok=True)
        return cls(whoosh_index.create_in(str(path), SCHEMA, indexname=INDEX_NAME), ranking)

    @classmethod
    def open(cls, path: Path, ranking: Ranking) -> "WhooshEngine":
        return cls(whoosh_index.open_dir(str(path), indexname=INDEX_NAME, schema=SCHEMA), ranking)

    # Writes -------------------------------------------------------------------

    def add(self, docs: Iterable[IndexDoc]) -> int:
        writer = self._ix.writer(limitmb=BULK_LIMIT_MB, codec=_UniqueSegmentCodec())
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
        writer = self._ix.writer(codec=_UniqueSegmentCodec())
        try:
            for doc in docs:
                writer.update_document(**_fields(doc))
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        self.refresh()

    def delete(self, ids: Sequence[str]) -> None:
        writer = self._ix.writer(codec=_UniqueSegmentCodec())
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
        self._docsets.clear()
        self._labels = None
        old.close()

    def doc_count(self) -> int:
        return self._searcher.doc_count()

    def doc_frequency(self, term: str) -> int:
        return self._searcher.doc_frequency("content", term)

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
        results = searcher.search(self._query(query), **kwargs)
        by_relevance = query.sort == "relevance"
        hits = [
            # With a sort order, Whoosh reports sort keys, not scores.
            EngineHit(searcher.stored_fields(docnum)["id"], float(score) if by_relevance else 0.0)
            for score, docnum in results.top_n[query.offset:query.offset + query.limit]
        ]
        if not (query.count or query.facets):
            return EngineResults(hits=hits, total=results.scored_length())
        # Counting and faceting need every match. Whoosh finds them by walking the query's
        # matchers a second time, slowly; word queries get them from cached postings instead.
        matches = self._matching_docs(query)
        if matches is None:
            # Phrases need positions: let Whoosh walk it (Results.docs() would ignore the mask).
            every = self._query(query)
            if flt is not None:
                every = wq.And([every, flt])
            if mask is not None:
                every = wq.AndNot(every, mask)
            matches = np.fromiter(searcher.docs_for_query(every), dtype=np.int64)
        facets = self._facets(matches) if query.facets else {}
        return EngineResults(hits=hits, total=len(matches), facets=facets)

    def rescore(self, concepts: Sequence[Concept], ids: Sequence[str]) -> dict[str, float]:
        searcher = self._searcher
        docnums = {}
        for doc_id in ids:
            docnum = searcher.document_number(id=doc_id)
            if docnum is not None:
                docnums[docnum] = doc_id
        listed = np.fromiter(sorted(docnums), dtype=np.int64)
        scores: dict[str, float] = {}
        context = searcher.context()
        for concept in concepts:
            # Only the listed documents that hold the word are visited, each by skipping
            # straight to it: a few posting blocks read instead of whole lists.
            words = self._words([concept])
            present = listed if words is None else np.intersect1d(listed, self._union("content", words))
            if not len(present):
                continue
            matcher = self._concept(concept).matcher(searcher, context)
            for docnum in present.tolist():
                if not matcher.is_active():
                    break
                matcher.skip_to(docnum)
                if matcher.is_active() and matcher.id() == docnum:
                    doc_id = docnums[docnum]
                    scores[doc_id] = scores.get(doc_id, 0.0) + float(matcher.score())
        return scores

    # Match sets for counts and facets ---------------------------------------------------

    def _docs(self, field: str, term: str) -> np.ndarray:
        """Sorted live document numbers containing term (cached per searcher, LRU)."""
        key = (field, term)
        cached = self._docsets.get(key)
        if cached is not None:
            self._docsets.move_to_end(key)
            return cached
        reader = self._searcher.reader()
        if reader.doc_frequency(field, term):
            docs = np.fromiter(reader.postings(field, term).all_ids(), dtype=np.int64)
        else:
            docs = np.zeros(0, dtype=np.int64)
        self._docsets[key] = docs
        if len(self._docsets) > DOCSET_CACHE_TERMS:
            self._docsets.popitem(last=False)
        return docs

    def _all_docs(self) -> np.ndarray:
        key = ("", "")
        if key not in self._docsets:
            self._docsets[key] = np.fromiter(self._searcher.reader().all_doc_ids(), dtype=np.int64)
        return self._docsets[key]

    def _union(self, field: str, terms: Iterable[str]) -> np.ndarray:
        arrays = [self._docs(field, t) for t in terms]
        return np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, dtype=np.int64)

    @staticmethod
    def _words(concepts: Sequence[Concept]) -> list[str] | None:
        """The single words of word-only concepts; None when a phrase needs positions."""
        words = []
        for concept in concepts:
            for alt in concept.alternatives:
                terms = (alt.term,) if isinstance(alt, TermQuery) else alt.terms
                if len(terms) != 1:
                    return None
                words.append(terms[0])
        return words

    def _matching_docs(self, query: EngineQuery) -> np.ndarray | None:
        should, excluded = self._words(query.should), self._words(query.must_not)
        if query.must or should is None or excluded is None:
            return None
        docs = self._union("content", should) if should else self._all_docs()
        if query.categories:
            docs = np.intersect1d(docs, self._union("category", query.categories), assume_unique=True)
        for tag in query.tags:
            docs = np.intersect1d(docs, self._docs("tags", tag), assume_unique=True)
        removed = [self._union("content", excluded), self._union("category", query.not_categories),
                   self._union("tags", query.not_tags)]
        return np.setdiff1d(docs, np.concatenate(removed), assume_unique=True)

    def _label_matrices(self) -> tuple[sp.csr_matrix, list[str], sp.csr_matrix, list[str]]:
        """Documents x categories and documents x tags, read once per searcher."""
        if self._labels is None:
            reader = self._searcher.reader()
            size = self._searcher.doc_count_all()
            built = []
            for field in ("category", "tags"):
                names = [t.decode() if isinstance(t, bytes) else t for t in reader.field_terms(field)]
                rows, cols = [], []
                for col, name in enumerate(names):
                    docs = self._docs(field, name)
                    rows.append(docs)
                    cols.append(np.full(len(docs), col))
                data = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
                matrix = sp.csr_matrix((np.ones(len(data), dtype=np.int32),
                                        (data, np.concatenate(cols) if cols else data)), shape=(size, len(names)))
                built += [matrix, names]
            self._labels = tuple(built)
        return self._labels

    def _facets(self, docs: np.ndarray) -> dict[str, list[tuple[str, int]]]:
        categories, category_names, tags, tag_names = self._label_matrices()
        out = {}
        for name, matrix, names in (("category", categories, category_names), ("tags", tags, tag_names)):
            counts = np.asarray(matrix[docs].sum(axis=0)).ravel() if len(docs) else np.zeros(len(names))
            out[name] = _ranked((names[i], int(n)) for i, n in enumerate(counts) if n)
        return out

    def close(self) -> None:
        self._searcher.close()
        self._ix.close()

    # Query translation ----------------------------------------------------------

    @staticmethod
    def _alternative(alt, weight: float) -> wq.Query:
        boost = alt.boost * weight
        if isinstance(alt, PhraseQuery) and len(alt.terms) > 1:
            return wq.Phrase("content", list(alt.terms), boost=boost)
        term = alt.terms[0] if isinstance(alt, PhraseQuery) else alt.term
        return wq.Term("content", term, boost=boost)

    def _concept(self, concept: Concept) -> wq.Query:
        clauses = [self._alternative(alt, concept.weight) for alt in concept.alternatives]
        return clauses[0] if len(clauses) == 1 else _DisMax(clauses, tiebreak=ALTERNATIVES_TIEBREAK)

    def _query(self, query: EngineQuery) -> wq.Query:
        should = [self._concept(c) for c in query.should]
        must = [self._concept(c) for c in query.must]
        scored: wq.Query
        if must and should:
            scored = wq.AndMaybe(wq.And(must), wq.Or(should))
        elif must:
            scored = wq.And(must)
        elif should:
            scored = wq.Or(should) if len(should) > 1 else should[0]
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
