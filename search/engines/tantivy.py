"""The tantivy engine (Rust, the optional extra). The only module that imports tantivy.

It indexes the same analyzed terms as Whoosh and scores with the same BM25 (Lucene's
idf, k1=1.2, b=0.75, fixed in tantivy), so both engines rank alike.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import tantivy
from tantivy import Occur, Order, Query

from search.deadline import Deadline, check
from search.document import IndexDoc
from search.engine import ALTERNATIVES_TIEBREAK, Concept, EngineHit, EngineQuery, EngineResults, PhraseQuery, Ranking

BULK_HEAP_BYTES = 256_000_000
# Each indexing thread writes its own segment; a few keep the CPU busy without many merges.
BULK_THREADS = max(1, min(4, os.cpu_count() or 1))
UPDATE_HEAP_BYTES = 64_000_000
FACET_FIELDS = ("category", "tags")
CONTENT_TOKENIZER = "whitespace"


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    # The terms come analyzed, joined by spaces: tantivy's whitespace tokenizer only splits
    # them again (in Rust, with positions for phrases), never changes one.
    builder.add_text_field("content", stored=False, tokenizer_name=CONTENT_TOKENIZER, index_option="position")
    builder.add_text_field("category", fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("tags", fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("published", fast=True)
    return builder.build()


def _pre_tokenized(terms: Sequence[str]) -> tantivy.PreTokenizedString:
    """The terms as tokens, for indexes whose content field does not split on whitespace
    (built before Kindred used the whitespace tokenizer): slower, a Python object per term."""
    tokens = []
    start = 0
    for position, term in enumerate(terms):
        end = start + len(term)
        tokens.append(tantivy.Token(term, position, start, end))
        start = end + 1
    return tantivy.PreTokenizedString(" ".join(terms), tokens)


def _content_tokenizer(path: Path) -> str | None:
    """The tokenizer the index at `path` declares for its content field."""
    try:
        schema = json.loads((path / "meta.json").read_text(encoding="utf-8"))["schema"]
        return next(f["options"]["indexing"]["tokenizer"] for f in schema if f["name"] == "content")
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None


def _document(doc: IndexDoc, split_by_tantivy: bool) -> tantivy.Document:
    document = tantivy.Document()
    document.add_text("id", doc.id)
    if doc.terms and split_by_tantivy:
        document.add_text("content", " ".join(doc.terms))
    elif doc.terms:
        document.add_pre_tokenized_text("content", _pre_tokenized(doc.terms))
    if doc.category:
        document.add_text("category", doc.category)
    for tag in doc.tags:
        document.add_text("tags", tag)
    document.add_integer("published", doc.published)
    return document


def _unscored(query: Query) -> Query:
    """A filter: required, but adds nothing to the score (Whoosh's filter does not score)."""
    return Query.const_score_query(query, 0.0)


def _ranked(counts: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    # The engine contract's order (Whoosh's), not left to how tantivy happens to list them.
    return sorted(counts, key=lambda item: (-item[1], item[0]))


class TantivyEngine:
    name = "tantivy"

    def __init__(self, index: tantivy.Index, path: Path):
        self._index = index
        self._schema = index.schema
        # Only the whitespace tokenizer gives back the joined terms unchanged.
        self._split_by_tantivy = _content_tokenizer(path) == "whitespace"
        # Manual: this object reloads after its own commits and in refresh(), with no watcher thread.
        index.config_reader(reload_policy="manual")
        self._searcher = index.searcher()

    # Ranking's k1 and b tune Whoosh only: tantivy's BM25 is fixed at k1=1.2, b=0.75.
    @classmethod
    def create(cls, path: Path, ranking: Ranking) -> "TantivyEngine":
        path.mkdir(parents=True, exist_ok=True)
        return cls(tantivy.Index(build_schema(), path=str(path), reuse=False), path)

    @classmethod
    def open(cls, path: Path, ranking: Ranking) -> "TantivyEngine":
        return cls(tantivy.Index.open(str(path)), path)

    # Writes -------------------------------------------------------------------

    @contextmanager
    def _writer(self, heap_size: int = UPDATE_HEAP_BYTES, threads: int = 1) -> Iterator[tantivy.IndexWriter]:
        writer = self._index.writer(heap_size, threads)
        try:
            yield writer
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            # Lets merges finish and releases the directory lock for the next writer process.
            writer.wait_merging_threads()
        self.refresh()

    def add(self, docs: Iterable[IndexDoc]) -> int:
        count = 0
        with self._writer(BULK_HEAP_BYTES, BULK_THREADS) as writer:
            for doc in docs:
                writer.add_document(_document(doc, self._split_by_tantivy))
                count += 1
        return count

    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        with self._writer() as writer:
            for doc in docs:
                # A delete applies only to documents added before it, so the new one stays.
                writer.delete_documents_by_term("id", doc.id)
                writer.add_document(_document(doc, self._split_by_tantivy))

    def delete(self, ids: Sequence[str]) -> None:
        with self._writer() as writer:
            for doc_id in ids:
                writer.delete_documents_by_term("id", doc_id)

    # Reads --------------------------------------------------------------------

    def refresh(self) -> None:
        self._index.reload()
        self._searcher = self._index.searcher()

    def doc_count(self) -> int:
        return self._searcher.num_docs

    def doc_frequency(self, term: str) -> int:
        return self._searcher.doc_freq("content", term)

    def ids(self) -> set[str]:
        searcher = self._searcher
        hits = searcher.search(Query.all_query(), max(1, searcher.num_docs), count=False).hits
        return {self._id(searcher, address) for _, address in hits}

    def search(self, query: EngineQuery, deadline: Deadline | None = None) -> EngineResults:
        """tantivy runs a search to its end in Rust: the deadline is checked between its calls."""
        searcher = self._searcher  # one consistent segment set even if refresh() runs meanwhile
        check(deadline)
        matching = self._query(query)
        if query.sort == "date":
            total, page = self._by_date(searcher, matching, query)
            hits = [EngineHit(self._id(searcher, address), 0.0) for address in page]
        else:
            result = searcher.search(matching, self._window(query), count=query.count)
            total = result.count if query.count else len(result.hits)
            hits = [EngineHit(self._id(searcher, address), float(score))
                    for score, address in result.hits[query.offset:query.offset + query.limit]]
        facets = {}
        check(deadline)
        if query.facets:
            facets = {field: _ranked(searcher.terms_with_prefix(field, "", filter_query=matching))
                      for field in FACET_FIELDS}
        return EngineResults(hits=hits, total=total, facets=facets)

    @staticmethod
    def _window(query: EngineQuery) -> int:
        return max(1, query.offset + query.limit)  # tantivy refuses a limit of 0

    @staticmethod
    def _id(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> str:
        return searcher.doc(address)["id"][0]

    def rescore(self, concepts: Sequence[Concept], ids: Sequence[str]) -> dict[str, float]:
        if not concepts or not ids:
            return {}
        searcher = self._searcher
        listed = _unscored(Query.term_set_query(self._schema, "id", list(ids)))
        scored = [(Occur.Should, self._concept(c)) for c in concepts]
        query = Query.boolean_query([(Occur.Must, listed), (Occur.Must, Query.boolean_query(scored))])
        result = searcher.search(query, len(ids), count=False)
        return {self._id(searcher, address): float(score) for score, address in result.hits}

    def _by_date(self, searcher: tantivy.Searcher, matching: Query,
                 query: EngineQuery) -> tuple[int, list[tantivy.DocAddress]]:
        """Newest first, then by score like Whoosh's sort, then by index order.

        tantivy sorts by one key, so the oldest date among the first offset + limit hits
        splits the work: the newer hits (fewer than that) are re-sorted here, and that
        date's own hits, which may be many, are taken best first."""
        window = self._window(query)
        newest = searcher.search(matching, window, order_by_field="published", order=Order.Desc)
        page = slice(query.offset, query.offset + query.limit)
        if query.matches_everything or not newest.hits:  # equal scores: index order breaks ties
            return newest.count, [address for _, address in newest.hits[page]]
        oldest = newest.hits[-1][0]
        newer = searcher.search(self._dated(matching, oldest, include_lower=False), window).hits
        dates = searcher.fast_field_values("published", [address for _, address in newer])
        # A stable sort keeps the score order among equal dates.
        ordered = [address for _, (_, address) in sorted(zip(dates, newer), key=lambda item: -item[0])]
        # Every newer hit is in `newest`, which ends on `oldest`: fewer than `window` of them.
        tied = searcher.search(self._dated(matching, oldest, upper=oldest), window - len(ordered)).hits
        ordered += [address for _, address in tied]
        return newest.count, ordered[page]

    def _dated(self, matching: Query, lower: int, include_lower: bool = True, upper: int | None = None) -> Query:
        published = Query.range_query(self._schema, "published", tantivy.FieldType.Integer,
                                      lower_bound=lower, upper_bound=upper, include_lower=include_lower)
        return Query.boolean_query([(Occur.Must, matching), (Occur.Must, _unscored(published))])

    def close(self) -> None:
        # tantivy has no close: dropping the last references unmaps the index files.
        del self._searcher, self._index

    # Query translation ----------------------------------------------------------

    def _term(self, field: str, value: str) -> Query:
        return Query.term_query(self._schema, field, value, index_option="basic")

    def _alternative(self, alt, weight: float) -> Query:
        if isinstance(alt, PhraseQuery) and len(alt.terms) > 1:
            # Scored as Whoosh scores a phrase, the sum of its words' scores where it stands,
            # so both engines rank alike; tantivy's own counts the phrase's occurrences.
            words = [(Occur.Must, Query.term_query(self._schema, "content", t, index_option="freq")) for t in alt.terms]
            phrase = Query.phrase_query(self._schema, "content", list(alt.terms))
            clause = Query.boolean_query([(Occur.Must, _unscored(phrase)), *words])
        else:
            term = alt.terms[0] if isinstance(alt, PhraseQuery) else alt.term
            clause = Query.term_query(self._schema, "content", term, index_option="freq")
        boost = alt.boost * weight
        return clause if boost == 1.0 else Query.boost_query(clause, boost)

    def _concept(self, concept: Concept) -> Query:
        clauses = [self._alternative(alt, concept.weight) for alt in concept.alternatives]
        if len(clauses) == 1:
            return clauses[0]
        return Query.disjunction_max_query(clauses, tie_breaker=ALTERNATIVES_TIEBREAK)

    def _query(self, query: EngineQuery) -> Query:
        scored = [(Occur.Must, self._concept(c)) for c in query.must]
        # With a Must beside them, Should clauses only add score (Whoosh's AndMaybe).
        scored += [(Occur.Should, self._concept(c)) for c in query.should]
        if not scored:
            matching = Query.all_query()
        elif len(scored) == 1:
            matching = scored[0][1]
        else:
            matching = Query.boolean_query(scored)
        # Filters wrap the scored query rather than join it: beside a Must, its Should
        # clauses would no longer be required.
        clauses = [(Occur.Must, matching)]
        if query.categories:
            categories = Query.term_set_query(self._schema, "category", list(query.categories))
            clauses.append((Occur.Must, _unscored(categories)))
        clauses += [(Occur.Must, _unscored(self._term("tags", tag))) for tag in query.tags]
        clauses += [(Occur.MustNot, self._term("category", c)) for c in query.not_categories]
        clauses += [(Occur.MustNot, self._term("tags", t)) for t in query.not_tags]
        clauses += [(Occur.MustNot, self._concept(c)) for c in query.must_not]
        return matching if len(clauses) == 1 else Query.boolean_query(clauses)
