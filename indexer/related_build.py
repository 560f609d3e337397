"""The related lists of a build and of an upsert: the model fitted (or its stored state
updated), neighbours found, each list blended with metadata and editor controls, and
rendered into the bytes readers are sent (search/related_lists.py), all into the version's
store in the caller's transaction.

A build's batch runs in blocks of BLOCK_ROWS articles: the model is fitted once; each
block's text neighbours are found and kept where they were found, while this process makes
each article's item card; once every block's are known (near-duplicates are looked for
across them), each block's lists are blended and rendered and written to the store as the
block finishes, so no more than a few blocks' lists are ever held. The blocks run one after
another in this process (the default: the top-k products use every core), or on the workers
of a Dask cluster (setting related_cluster, indexer/related_cluster.py) that runs these same
block functions, so both give the same lists.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Callable, Iterable, Iterator, Mapping, Protocol, Sequence, TypeVar

import numpy as np
import scipy.sparse as sp

from indexer.related import (CANDIDATE_MARGIN, WHY_TERMS, Neighbor, RelatedModel, RelatedPolicy, near_duplicates,
                             pairwise_similarity, recency_pools)
from indexer.related_state import RelatedState, encode_candidates
from search.article import Article
from search.config import Settings
from search.document import IndexDoc
from search.related_lists import ItemCard, PackedCards, RelatedEntry, RelatedPayload, entries_json, render
from search.store import Store

# At most this many articles per block (the unit of work here and on a cluster's workers);
# a cluster gets at least BLOCKS_PER_THREAD blocks per thread, so none idles while one lags
# (with 4,000, one worker idled about half a block, 2 s, at the end of each step at 100,000).
# A row's neighbours and list depend on no other row of its block: any split gives the same lists.
BLOCK_ROWS = 2_000
BLOCKS_PER_THREAD = 4
# Rows whose candidate pairs `neighbors` scores at once: each pair copies both articles'
# TF-IDF rows, so this bounds a block's temporary memory (any chunk gives the same neighbours).
NEIGHBOR_CHUNK_ROWS = 500

Shared = TypeVar("Shared")
Item = TypeVar("Item")
Result = TypeVar("Result")


class BlockRunner(Protocol):
    """Where a batch's blocks run. `share` sends a value once to where blocks run (to each
    worker of a cluster) and `drop` frees it there. `keep` calls `function(shared, item)` for
    each item and leaves each result where it was computed, returning handles in the items'
    order; `stream` does the same but brings the results back, in any order, as they finish,
    with no more than a few in flight. An item may be a handle `keep` returned: the function
    then gets its result, where it is."""

    threads: int  # blocks that run at once
    threads_per_block: int  # threads each block's top-k products use

    def share(self, value: Shared) -> object: ...

    def keep(self, function: Callable[[Shared, Item], Result], shared: object,
             items: Iterable[object]) -> list[object]: ...

    def stream(self, function: Callable[[Shared, Item], Result], shared: object,
               items: Iterable[object]) -> Iterator[Result]: ...

    def drop(self, *handles: object) -> None: ...


class InProcess:
    """Blocks one after another in this process; each top-k product uses every core."""

    threads = 1

    def __init__(self) -> None:
        self.threads_per_block = len(os.sched_getaffinity(0))

    def share(self, value: Shared) -> Shared:
        return value

    def keep(self, function: Callable[[Shared, Item], Result], shared: Shared, items: Iterable[Item]) -> list[Result]:
        return [function(shared, item) for item in items]

    def stream(self, function: Callable[[Shared, Item], Result], shared: Shared, items: Iterable[Item]
               ) -> Iterator[Result]:
        return (function(shared, item) for item in items)

    def drop(self, *handles: object) -> None:
        pass


def model_params(settings: Settings) -> dict[str, object]:
    return {"n_candidates": settings.related_k + CANDIDATE_MARGIN, "min_df": 1, "max_df": "auto",
            "tf_saturation": settings.related_tf_saturation, "n_topics": settings.related_topics,
            "topic_weight": settings.related_topic_weight}


# An article's related material as the store keeps it: (id, its text neighbours as
# `encode_candidates` gives them, its list's entries as `entries_json` gives them, what readers
# are sent (None when not rendered)). A tuple: blocks send thousands.
StoredList = tuple[str, str, str, RelatedPayload | None]


def neighbor_model(model: RelatedModel) -> RelatedModel:
    """The fitted model as neighbour blocks read it: the articles' rows (TF-IDF, topics), the
    finding columns and their rows' transpose, not the vocabulary, in chunks of at most
    NEIGHBOR_CHUNK_ROWS rows; its ids are row numbers, so
    `neighbors` names each neighbour by its row (and, given `range` for words, each
    explaining term by its column), which FoundBlock packs as numbers."""
    slim = copy.copy(model)
    for learned_elsewhere in ("vocabulary_", "terms_", "idf_", "topic_components_"):
        delattr(slim, learned_elsewhere)
    slim.ids_ = range(len(model.ids_))
    slim.chunk_size = min(model.chunk_size, NEIGHBOR_CHUNK_ROWS)
    return slim


@dataclass(frozen=True)
class NeighborWork:
    """What every neighbour block reads."""

    model: RelatedModel  # `neighbor_model`
    duplicate_threshold: float


@dataclass(frozen=True)
class FoundBlock:
    """A neighbour block's result, as numbers (a few bytes a neighbour, kept until its list
    block runs): row i's neighbours are entries ends[i - 1]:ends[i] of the arrays."""

    start: int  # the block's first row in the model
    ends: np.ndarray
    rows: np.ndarray  # int32: each neighbour's row in the model
    similarities: np.ndarray  # float32
    why: np.ndarray  # int32 (neighbours x WHY_TERMS): the explaining terms' columns, -1 past the last
    copies: dict[int, set[int]]  # near-duplicates among them (`near_duplicates`), by row


def neighbor_block(work: NeighborWork, block: tuple[int, int]) -> FoundBlock:
    """The text neighbours of `block` (first row, rows) and the near-duplicates among them."""
    start, count = block
    model = work.model
    found = model.neighbors(range(start, start + count), range(model.matrix_.shape[1]))
    copies = near_duplicates({start + i: row for i, row in enumerate(found)}, work.duplicate_threshold)
    flat = [n for row in found for n in row]
    padding = (-1,) * WHY_TERMS
    return FoundBlock(start, np.cumsum([len(row) for row in found], dtype=np.int64),
                      np.array([n.id for n in flat], np.int32).reshape(-1),
                      np.array([n.similarity for n in flat], np.float32).reshape(-1),
                      np.array([(n.why + padding)[:WHY_TERMS] for n in flat], np.int32).reshape(-1, WHY_TERMS),
                      copies)


def block_copies(_: None, found: FoundBlock) -> dict[int, set[int]]:
    return found.copies


ARTICLE_FIELDS = tuple(f.name for f in dataclasses.fields(Article))


def blend_fields(article: Article) -> Article:
    """The article without what blending never reads (its text, title, links, author): what
    readers see of it is in its card, and every list block holds every article."""
    return dataclasses.replace(article, body="", summary="", title="", url="", author="", image="")


class ArticleTable(Mapping[str, Article]):
    """Articles by id that travel as their fields' values (frozen slotted dataclasses pickle
    field by field, slowly) and are made into Articles where they are first read: on each of
    a cluster's workers at once, not at each hop of a broadcast (a worker passes on what it
    received as it received it)."""

    def __init__(self, values: list[tuple]):
        self._values = values

    @classmethod
    def of(cls, articles: Iterable[Article]) -> "ArticleTable":
        return cls([tuple(getattr(a, name) for name in ARTICLE_FIELDS) for a in articles])

    @cached_property
    def _by_id(self) -> dict[str, Article]:
        return {a.id: a for a in (Article(*fields) for fields in self._values)}

    def __getitem__(self, article_id: str) -> Article:
        return self._by_id[article_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._values)

    def __reduce__(self):
        return ArticleTable, (self._values,)


@dataclass(frozen=True)
class ListWork:
    """What every list block reads: the articles as blending reads them (`blend_fields`),
    each row's id and each column's written word (to name what FoundBlock numbers),
    near-duplicates across all candidates, and each article's card."""

    policy: RelatedPolicy
    articles: Mapping[str, Article]
    ids: Sequence[str]  # the model's rows
    words: Sequence[str]  # the model's columns, as written
    copies: Mapping[str, set[str]]
    cards: Mapping[str, ItemCard] | None  # None: lists not rendered
    matrix: sp.csr_matrix | None  # the rows, for diversity's pairwise similarity, else None

    @cached_property
    def pools(self) -> Callable[[str | None], list[Article]]:
        return recency_pools(self.articles.values())

    @cached_property
    def pairwise(self) -> Callable[[str, str], float] | None:
        return pairwise_similarity(self.ids, self.matrix) if self.matrix is not None else None

    def __reduce__(self):
        # Sent to each worker: the articles as their fields' values, the cards packed (as a
        # worker that received them passes them on); pools and pairwise are made where used.
        articles = self.articles if isinstance(self.articles, ArticleTable) else ArticleTable.of(self.articles.values())
        cards = self.cards if self.cards is None or isinstance(self.cards, PackedCards) else PackedCards.of(
            self.cards.values())
        return ListWork, (self.policy, articles, self.ids, self.words, self.copies, cards, self.matrix)


def list_block(work: ListWork, found: FoundBlock) -> list[StoredList]:
    """A block's lists, blended (and rendered when the work has cards), as the store keeps them."""
    ids, words = work.ids, work.words
    rows, similarities, why = found.rows.tolist(), found.similarities.tolist(), found.why.tolist()
    out = []
    begin = 0
    for offset, end in enumerate(found.ends.tolist()):
        source = ids[found.start + offset]
        row = [Neighbor(ids[rows[i]], similarities[i], tuple(words[c] for c in why[i] if c >= 0))
               for i in range(begin, end)]
        begin = end
        entries = work.policy.blend(work.articles[source], row, work.articles, work.pools, work.pairwise, work.copies)
        out.append((source, encode_candidates(row), entries_json(entries),
                    render(entries, work.cards) if work.cards is not None else None))
    return out


def compute(settings: Settings, articles: Sequence[Article], docs: Sequence[IndexDoc], surface_of: Mapping[str, str],
            write_lists: Callable[[list[StoredList]], None], write_model: Callable[[RelatedModel], None],
            runner: BlockRunner | None = None, rendered: bool = True) -> dict[str, float]:
    """Fit, find neighbours, blend (and render, unless `rendered` is False) on `runner` (in
    this process by default); the fitted model goes to `write_model` while the neighbour
    blocks run, each block's lists to `write_lists` as the block finishes. Returns timings."""
    runner = runner or InProcess()
    timings: dict[str, float] = {}
    size = block_rows(len(docs), runner.threads)
    started = time.perf_counter()
    model = RelatedModel(**model_params(settings), n_threads=runner.threads_per_block).fit(docs)
    timings["fit_s"] = time.perf_counter() - started

    started = time.perf_counter()
    policy = RelatedPolicy.from_settings(settings)
    ids = model.ids_
    neighbor_work = runner.share(NeighborWork(neighbor_model(model), policy.duplicate_threshold))
    found = runner.keep(neighbor_block, neighbor_work, [(start, min(size, len(ids) - start))
                                                        for start in range(0, len(ids), size)])
    began = time.perf_counter()
    write_model(model)
    timings["model_store_s"] = time.perf_counter() - began
    # Cards read the articles' text, which only this process holds: they are made here while a
    # cluster's workers find neighbours (sending them the text would take longer).
    began = time.perf_counter()
    cards = item_cards(settings, articles) if rendered else None
    timings["cards_s"] = time.perf_counter() - began
    # What list blocks read that needs no neighbour is made while a cluster's workers find them.
    blended = {a.id: blend_fields(a) for a in articles}
    words = [surface_of.get(term, term) for term in model.terms_.tolist()]
    copies: dict[str, set[str]] = {}
    for block in runner.stream(block_copies, None, found):  # near-duplicates both ways, across blocks
        for row, others in block.items():
            copies.setdefault(ids[row], set()).update(ids[other] for other in others)
    runner.drop(neighbor_work)
    timings["top_k_s"] = time.perf_counter() - started

    started = time.perf_counter()
    list_work = runner.share(ListWork(policy, blended, ids, words, copies, cards,
                                      model.matrix_ if policy.diversity > 0 else None))
    writing = 0.0
    for block in runner.stream(list_block, list_work, found):
        began = time.perf_counter()
        write_lists(block)
        writing += time.perf_counter() - began
    runner.drop(list_work, *found)
    timings["blend_s"] = time.perf_counter() - started
    timings["lists_store_s"] = writing
    return timings


def block_rows(articles: int, threads: int) -> int:
    """Rows per block: BLOCK_ROWS, or fewer when that would leave threads without blocks."""
    return max(1, min(BLOCK_ROWS, math.ceil(articles / (threads * BLOCKS_PER_THREAD))))


def item_cards(settings: Settings, articles: Iterable[Article]) -> dict[str, ItemCard]:
    return {a.id: ItemCard.of(a, settings.article_links, settings.teaser_length) for a in articles}


def payloads(lists: Mapping[str, list[RelatedEntry]], cards: Mapping[str, ItemCard]
             ) -> dict[str, tuple[list[RelatedEntry], RelatedPayload]]:
    """Each list with its payload (`cards`: those of the articles the lists show)."""
    # Root-relative links: the host (site_url, else the request's) is added when served.
    return {source: (entries, render(entries, cards)) for source, entries in lists.items()}


def build(settings: Settings, store: Store, articles: Sequence[Article], docs: Sequence[IndexDoc],
          surface_of: Mapping[str, str]) -> dict[str, float]:
    """A new version's related model and lists, into its (new) store; returns timings.
    The blocks run where the setting related_cluster says (in this process when empty)."""
    if not docs:
        return {}
    if settings.related_cluster:
        from indexer.related_cluster import cluster_runner  # Dask loads only when asked

        with cluster_runner(settings.related_cluster) as runner:
            return {**store_batch(settings, store, articles, docs, surface_of, runner), **runner.timings}
    return store_batch(settings, store, articles, docs, surface_of, InProcess())


def store_batch(settings: Settings, store: Store, articles: Sequence[Article], docs: Sequence[IndexDoc],
                surface_of: Mapping[str, str], runner: BlockRunner) -> dict[str, float]:
    """The batch on `runner`, into a new store in one transaction: the model, each block's
    lists and candidates as the block finishes, then who shows whom; returns timings."""
    with store.transaction():
        timings = compute(settings, articles, docs, surface_of, lambda block: _store_lists(store, block),
                          lambda model: RelatedState(store).save_model(model, surface_of, ()), runner)
        started = time.perf_counter()
        store.index_related_targets()
        timings["targets_store_s"] = time.perf_counter() - started
        return timings


def _store_lists(store: Store, block: list[StoredList]) -> None:
    store.put_related_candidates((source, candidates) for source, candidates, _, _ in block)
    store.put_new_related_rows((source, entries, payload) for source, _, entries, payload in block)


def update(settings: Settings, store: Store, params: Mapping[str, object], docs: Sequence[IndexDoc],
           deletes: Sequence[str]) -> int:
    """Fold upserted and deleted articles into the stored model and the lists they touch;
    returns how many lists changed. Joins the caller's store transaction."""
    state = RelatedState(store)
    changed = state.update(docs, deletes, params)
    # Lists that show an upserted article (its title or teaser may be new) or a deleted one.
    for doc_id in [*(d.id for d in docs), *deletes]:
        changed |= store.sources_listing(doc_id)
    changed -= set(deletes)
    if not changed:
        return 0
    candidates = state.candidates(changed)
    needed = set(changed) | {n.id for row in candidates.values() for n in row}
    policy = RelatedPolicy.from_settings(settings)
    articles = store.articles(needed)
    needed_pins = {p for a in articles.values() for p in a.related_pins} | {
        p for src in changed for p in policy.pins.get(src, ())}
    articles.update(store.articles(needed_pins - set(articles)))

    @cache  # the same for every list of this update
    def pool(category: str | None) -> list[Article]:
        return store.recent(policy.k + len(changed) + 1, category)

    # Diversity and copies compare candidates with each other, as a build would: their
    # stored vectors, and their own candidates.
    pairwise = state.pairwise(needed) if policy.diversity > 0 else None
    copies = near_duplicates({**state.candidates(needed - set(candidates)), **candidates},
                             policy.duplicate_threshold)
    lists = {source: policy.blend(articles[source], candidates.get(source, []), articles, pool, pairwise, copies)
             for source in changed if source in articles}
    shown = _lookup(store, articles, (e.id for entries in lists.values() for e in entries))
    store.put_related(payloads(lists, item_cards(settings, shown.values())))
    return len(changed)


def _lookup(store: Store, known: Mapping[str, Article], ids: Iterable[str]) -> dict[str, Article]:
    """`known` articles plus the others of `ids` read from the store (fallbacks, pins)."""
    found = dict(known)
    found.update(store.articles({i for i in ids if i not in found}))
    return found


def related_lists(settings: Settings, articles: Sequence[Article],
                  docs: Sequence[IndexDoc]) -> tuple[dict[str, list[RelatedEntry]], dict[str, float]]:
    """The related lists for articles already analyzed (for evaluation: no index is written)."""
    lists: dict[str, list[RelatedEntry]] = {}

    def keep_entries(block: list[StoredList]) -> None:
        lists.update((source, [RelatedEntry.from_json(item) for item in json.loads(entries)])
                     for source, _, entries, _ in block)

    timings = compute(settings, articles, docs, {}, keep_entries, lambda model: None, rendered=False)
    return lists, timings
