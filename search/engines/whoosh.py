"""The Whoosh engine (pure Python, the default). The only module that imports whoosh."""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec, W3Segment
from whoosh import query as wq
from whoosh import scoring, sorting
from whoosh.analysis import Token, Tokenizer
from whoosh.collectors import TimeLimit, TimeLimitCollector
from whoosh.fields import ID, KEYWORD, NUMERIC, TEXT, Schema
from whoosh.matching.binary import DisjunctionMaxMatcher
from whoosh.searching import Searcher

from search import analysis
from search.caches import BoundedCache
from search.deadline import Deadline, check
from search.document import IndexDoc
from search.engine import (
    ALTERNATIVES_TIEBREAK, Concept, EngineHit, EngineQuery, EngineResults, Ranking, TermQuery, bm25_idf,
)

INDEX_NAME = "kindred"
BULK_LIMIT_MB = 256
# Posting lists kept as arrays of document numbers (for counts, facets, phrases), in bytes
# (an entry's own overhead counted too).
DOCSET_CACHE_BYTES = 32 * 2**20
DOCSET_ENTRY_BYTES = 200
_NO_DOCS = np.zeros(0, dtype=np.int64)
# Phrase candidates verified between two looks at the deadline.
DEADLINE_CHECK_EVERY = 256


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


class _Searcher(Searcher):
    """Whoosh's searcher keeps every term's idf it ever computed, a dict that grows with
    the distinct words readers search for; the idf is one term-info look-up, so it is
    computed each time instead."""

    def idf(self, fieldname: str, text: str) -> float:
        return self.weighting.idf(self, fieldname, text)


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
        self._searcher = self._new_searcher()
        self._docsets = BoundedCache(DOCSET_CACHE_BYTES, getsizeof=lambda docs: docs.nbytes + DOCSET_ENTRY_BYTES)
        self._labels: tuple[sp.csr_matrix, list[str], sp.csr_matrix, list[str]] | None = None

    @classmethod
    def create(cls, path: Path, ranking: Ranking) -> "WhooshEngine":
        path.mkdir(parents=True, exist_ok=True)
        return cls(whoosh_index.create_in(str(path), SCHEMA, indexname=INDEX_NAME), ranking)

    @classmethod
    def open(cls, path: Path, ranking: Ranking) -> "WhooshEngine":
        with warnings.catch_warnings():
            # Whoosh leaves open a damaged file it failed to read: it closes when the
            # failure's frames go, just below, instead of warning at some later moment.
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                return cls(whoosh_index.open_dir(str(path), indexname=INDEX_NAME, schema=SCHEMA), ranking)
            except Exception as exc:
                failure = ValueError(f"the Whoosh index cannot be opened: {type(exc).__name__}: {exc}")
        raise failure

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
        self._searcher = self._new_searcher()
        self._docsets.clear()
        self._labels = None
        old.close()

    def _new_searcher(self) -> Searcher:
        return _Searcher(self._ix.reader(), fromindex=self._ix, weighting=self._weighting)

    def doc_count(self) -> int:
        return self._searcher.doc_count()

    def doc_frequency(self, term: str) -> int:
        return self._searcher.doc_frequency("content", term)

    def ids(self) -> set[str]:
        return {fields["id"] for fields in self._searcher.reader().all_stored_fields()}

    def search(self, query: EngineQuery, deadline: Deadline | None = None) -> EngineResults:
        """Required phrases and exclusions are worked out on arrays of document numbers
        first, each phrase verified only on the documents the rest of the query leaves;
        Whoosh then ranks with them as its filter and mask, without walking their positions."""
        searcher = self._searcher
        check(deadline)
        allowed = self._allowed(query, deadline)
        if allowed is not None and not len(allowed):
            return EngineResults(hits=[], total=0, facets=self._facets(allowed) if query.facets else {})
        needs_matches = query.count or query.facets or any(map(_has_phrase, query.must_not))
        positive = self._positive(query, allowed, deadline) if needs_matches else None
        excluded = self._excluded(query, positive, deadline)
        collector = searcher.collector(
            limit=query.offset + query.limit, filter=_docnums(allowed), mask=_docnums(excluded),
            sortedby=[sorting.FieldFacet("published", reverse=True), sorting.ScoreFacet()]
            if query.sort == "date" else None)
        if deadline is not None:
            collector = TimeLimitCollector(collector, max(deadline.remaining(), 0.0), use_alarm=False)
        try:
            searcher.search_with_collector(self._query(query), collector)
        except TimeLimit:
            raise deadline.expired() from None
        results = collector.results()
        by_relevance = query.sort == "relevance"
        hits = [
            # With a sort order, Whoosh reports sort keys, not scores.
            EngineHit(searcher.stored_fields(docnum)["id"], float(score) if by_relevance else 0.0)
            for score, docnum in results.top_n[query.offset:query.offset + query.limit]
        ]
        if positive is None or not (query.count or query.facets):
            return EngineResults(hits=hits, total=results.scored_length())
        # Counting and faceting need every match: the arrays have them (Whoosh would walk
        # the query's matchers a second time, slowly).
        matches = positive if excluded is None else np.setdiff1d(positive, excluded, assume_unique=True)
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
            return cached
        reader = self._searcher.reader()
        if not reader.doc_frequency(field, term):
            return _NO_DOCS  # not cached: any made-up word would take an entry
        docs = np.fromiter(reader.postings(field, term).all_ids(), dtype=np.int64)
        self._docsets.put(key, docs)
        return docs

    def _all_docs(self) -> np.ndarray:
        key = ("", "")
        docs = self._docsets.get(key)
        if docs is None:
            docs = np.fromiter(self._searcher.reader().all_doc_ids(), dtype=np.int64)
            self._docsets.put(key, docs)
        return docs

    def _union(self, field: str, terms: Iterable[str]) -> np.ndarray:
        arrays = [self._docs(field, t) for t in terms]
        return np.unique(np.concatenate(arrays)) if arrays else _NO_DOCS

    @staticmethod
    def _words(concepts: Sequence[Concept]) -> list[str] | None:
        """The single words of word-only concepts; None when a phrase needs positions."""
        words = []
        for concept in concepts:
            for alt in concept.alternatives:
                terms = _alternative_terms(alt)
                if len(terms) != 1:
                    return None
                words.append(terms[0])
        return words

    def _allowed(self, query: EngineQuery, deadline: Deadline | None) -> np.ndarray | None:
        """Documents the filters and the required concepts leave (None: no restriction);
        each phrase is verified only among what the filters and the others left."""
        docs = self._union("category", query.categories) if query.categories else None
        for tag in query.tags:
            docs = _within(self._docs("tags", tag), docs)
        for concept in sorted(query.must, key=_has_phrase):
            docs = self._concept_docs(concept, docs, deadline)
        return docs

    def _positive(self, query: EngineQuery, allowed: np.ndarray | None, deadline: Deadline | None) -> np.ndarray:
        """Every document the query matches before exclusions."""
        if query.must:
            return allowed
        if not query.should:
            return self._all_docs() if allowed is None else allowed
        return np.unique(np.concatenate([self._concept_docs(c, allowed, deadline) for c in query.should]))

    def _excluded(self, query: EngineQuery, positive: np.ndarray | None,
                  deadline: Deadline | None) -> np.ndarray | None:
        """Documents no hit may be: excluded labels and concepts (phrases verified among
        `positive` only: the others are not results anyway)."""
        parts = [self._docs("category", c) for c in query.not_categories]
        parts += [self._docs("tags", t) for t in query.not_tags]
        parts += [self._concept_docs(c, positive, deadline) for c in query.must_not]
        return np.unique(np.concatenate(parts)) if parts else None

    def _concept_docs(self, concept: Concept, within: np.ndarray | None, deadline: Deadline | None) -> np.ndarray:
        found = []
        for alt in concept.alternatives:
            terms = _alternative_terms(alt)
            if len(terms) == 1:
                found.append(_within(self._docs("content", terms[0]), within))
            else:
                found.append(self._phrase_docs(terms, within, deadline))
        return found[0] if len(found) == 1 else np.unique(np.concatenate(found))

    def _phrase_docs(self, terms: tuple[str, ...], within: np.ndarray | None,
                     deadline: Deadline | None) -> np.ndarray:
        """Documents (among `within`) where the terms stand next to each other, in order:
        the documents holding every term, then their positions read for those alone."""
        distinct = sorted(set(terms), key=lambda t: len(self._docs("content", t)))
        candidates = within
        for term in distinct:
            candidates = _within(self._docs("content", term), candidates)
            if not len(candidates):
                return candidates
        reader = self._searcher.reader()
        postings = {term: reader.postings("content", term) for term in distinct}
        found = []
        for number, docnum in enumerate(candidates.tolist()):
            if number % DEADLINE_CHECK_EVERY == 0:
                check(deadline)
            starts: set[int] | None = None
            for offset, term in enumerate(terms):
                matcher = postings[term]
                matcher.skip_to(docnum)
                shifted = {p - offset for p in matcher.value_as("positions")}
                starts = shifted if starts is None else starts & shifted
                if not starts:
                    break
            if starts:
                found.append(docnum)
        return np.array(found, dtype=np.int64)

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
    def _alternative(alt, weight: float, positions: bool) -> wq.Query:
        """`positions` False: a phrase as its words (scored alike: Whoosh scores a phrase as
        the sum of its words), for phrases already verified by the filter."""
        boost = alt.boost * weight
        terms = _alternative_terms(alt)
        if len(terms) == 1:
            return wq.Term("content", terms[0], boost=boost)
        if positions:
            return wq.Phrase("content", list(terms), boost=boost)
        return wq.And([wq.Term("content", term, boost=boost) for term in terms])

    def _concept(self, concept: Concept, positions: bool = True) -> wq.Query:
        clauses = [self._alternative(alt, concept.weight, positions) for alt in concept.alternatives]
        return clauses[0] if len(clauses) == 1 else _DisMax(clauses, tiebreak=ALTERNATIVES_TIEBREAK)

    def _query(self, query: EngineQuery) -> wq.Query:
        """The scored part: required phrases and exclusions are the filter and mask."""
        should = [self._concept(c) for c in query.should]
        must = [self._concept(c, positions=False) for c in query.must]
        scored: wq.Query
        if must and should:
            scored = wq.AndMaybe(wq.And(must), wq.Or(should))
        elif must:
            scored = wq.And(must)
        elif should:
            scored = wq.Or(should) if len(should) > 1 else should[0]
        else:
            scored = wq.Every()
        return scored


def _alternative_terms(alt) -> tuple[str, ...]:
    return (alt.term,) if isinstance(alt, TermQuery) else alt.terms


def _has_phrase(concept: Concept) -> bool:
    return any(len(_alternative_terms(alt)) > 1 for alt in concept.alternatives)


def _within(docs: np.ndarray, within: np.ndarray | None) -> np.ndarray:
    return docs if within is None else np.intersect1d(docs, within, assume_unique=True)


def _docnums(docs: np.ndarray | None) -> set[int] | None:
    """A filter or mask as Whoosh takes it."""
    return None if docs is None else set(docs.tolist())
