"""The related lists of a build and of an upsert: the model fitted (or its stored state
updated), neighbours found, each list blended with metadata and editor controls, and
rendered into the bytes readers are sent (search/related_lists.py), all into the version's
store in the caller's transaction.

A build's batch runs in blocks of BLOCK_ROWS articles: the model is fitted once; each
block's text neighbours are found; once every block's are known (near-duplicates are
looked for across them), each block's lists are blended and rendered. The blocks run one
after another in this process (the default: the top-k products use every core), or on the
workers of a Dask cluster (setting related_cluster, indexer/related_cluster.py) that runs
these same block functions, so both give the same lists.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterable, Mapping, Protocol, Sequence, TypeVar

from indexer.related import (CANDIDATE_MARGIN, Neighbor, RelatedModel, RelatedPolicy, near_duplicates,
                             pairwise_similarity, recency_pools)
from indexer.related_state import RelatedState, encode_candidates
from search.article import Article
from search.config import Settings
from search.document import IndexDoc
from search.related_lists import ItemCard, RelatedEntry, RelatedPayload, entries_json, render
from search.store import Store

# At most this many articles per block (the unit of work here and on a cluster's workers);
# a cluster gets at least BLOCKS_PER_THREAD blocks per thread, so none idles while one lags.
# A row's neighbours and list depend on no other row of its block: any split gives the same lists.
BLOCK_ROWS = 4_000
BLOCKS_PER_THREAD = 4

Shared = TypeVar("Shared")
Item = TypeVar("Item")
Result = TypeVar("Result")


class BlockRunner(Protocol):
    """Where a batch's blocks run. `run` sends `shared` once (to each worker of a cluster),
    calls `function(shared, item)` for each item and returns the results in order."""

    threads: int  # blocks that run at once
    threads_per_block: int  # threads each block's top-k products use

    def run(self, function: Callable[[Shared, Item], Result], shared: Shared, items: Sequence[Item]) -> list[Result]: ...


class InProcess:
    """Blocks one after another in this process; each top-k product uses every core."""

    threads = 1

    def __init__(self) -> None:
        self.threads_per_block = len(os.sched_getaffinity(0))

    def run(self, function: Callable[[Shared, Item], Result], shared: Shared, items: Sequence[Item]) -> list[Result]:
        return [function(shared, item) for item in items]


def model_params(settings: Settings) -> dict[str, object]:
    return {"n_candidates": settings.related_k + CANDIDATE_MARGIN, "min_df": 1, "max_df": "auto",
            "tf_saturation": settings.related_tf_saturation, "n_topics": settings.related_topics,
            "topic_weight": settings.related_topic_weight}


@dataclass(frozen=True)
class ListRow:
    """An article's related material as the store keeps it."""

    candidates: str  # its text neighbours (related_state.encode_candidates)
    entries: str  # its list's entries (entries_json)
    payload: RelatedPayload | None  # what readers are sent; None when not rendered
    shown: tuple[str, ...]  # the ids its list shows


@dataclass
class Batch:
    """A build's related lists and what made them."""

    model: RelatedModel
    lists: dict[str, ListRow]  # for every fitted article, in model.ids_ order
    timings: dict[str, float]


@dataclass(frozen=True)
class NeighborWork:
    """What every neighbour block reads."""

    model: RelatedModel
    words: list[str]  # each column's written word, for explanations
    duplicate_threshold: float
    article_links: str
    teaser_length: int
    render: bool


# A neighbour as blocks pass it between processes: (id, similarity, why). Plain tuples pickle
# many times faster than frozen slotted dataclasses, and a batch passes millions.
Candidate = tuple[str, float, tuple[str, ...]]


@dataclass(frozen=True)
class FoundBlock:
    """A neighbour block's result."""

    candidates: list[list[Candidate]]  # each row's text neighbours, best first
    copies: dict[str, set[str]]  # near-duplicates among them (`near_duplicates`)
    cards: list[ItemCard]  # its articles' item cards (none when not rendered)


ARTICLE_FIELDS = tuple(f.name for f in dataclasses.fields(Article))


@dataclass(frozen=True)
class ListWork:
    """What every list block reads: the articles without their text (what blending reads of
    them), near-duplicates across all candidates, and each article's card."""

    policy: RelatedPolicy
    articles: Mapping[str, Article]
    copies: Mapping[str, set[str]]
    cards: Mapping[str, ItemCard] | None  # None: lists not rendered
    vectors: RelatedModel | None  # for diversity's pairwise similarity, else None

    @cached_property
    def pools(self) -> Callable[[str | None], list[Article]]:
        return recency_pools(self.articles.values())

    def __reduce__(self):
        # Sent to each worker: the articles as their fields' values (frozen slotted dataclasses
        # pickle field by field, slowly); the pools are made again where they are used.
        values = [tuple(getattr(a, name) for name in ARTICLE_FIELDS) for a in self.articles.values()]
        return _list_work, (self.policy, values, self.copies, self.cards, self.vectors)


def _list_work(policy: RelatedPolicy, values: list[tuple], copies: Mapping[str, set[str]],
               cards: Mapping[str, ItemCard] | None, vectors: RelatedModel | None) -> ListWork:
    articles = (Article(*fields) for fields in values)
    return ListWork(policy, {a.id: a for a in articles}, copies, cards, vectors)


def neighbor_block(work: NeighborWork, block: tuple[range, Sequence[Article]]) -> FoundBlock:
    """A block's text neighbours (explained in written words), the near-duplicates among them
    and its articles' cards."""
    rows, articles = block
    found = work.model.neighbors(rows, work.words)
    copies = near_duplicates({a.id: row for a, row in zip(articles, found)}, work.duplicate_threshold)
    cards = [ItemCard.of(a, work.article_links, work.teaser_length) for a in articles] if work.render else []
    return FoundBlock([[(n.id, n.similarity, n.why) for n in row] for row in found], copies, cards)


def list_block(work: ListWork, block: tuple[Sequence[str], Sequence[list[Candidate]]]) -> list[ListRow]:
    """A block's lists, blended (and rendered when the work has cards), as the store keeps them."""
    pairwise = pairwise_similarity(work.vectors.ids_, work.vectors.matrix_) if work.vectors is not None else None
    out = []
    for source, candidates in zip(*block):
        row = [Neighbor(*candidate) for candidate in candidates]
        entries = work.policy.blend(work.articles[source], row, work.articles, work.pools, pairwise, work.copies)
        out.append(ListRow(encode_candidates(row), entries_json(entries),
                           render(entries, work.cards) if work.cards is not None else None,
                           tuple(e.id for e in entries)))
    return out


def compute(settings: Settings, articles: Sequence[Article], docs: Sequence[IndexDoc],
            surface_of: Mapping[str, str], runner: BlockRunner | None = None, rendered: bool = True) -> Batch:
    """Fit, find neighbours, blend (and render, unless `rendered` is False) on `runner`
    (in this process by default)."""
    runner = runner or InProcess()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    model = RelatedModel(**model_params(settings), n_threads=runner.threads_per_block).fit(docs)
    timings["fit_s"] = time.perf_counter() - started
    started = time.perf_counter()
    policy = RelatedPolicy.from_settings(settings)
    by_id = {a.id: a for a in articles}
    size = block_rows(len(model.ids_), runner.threads)
    ordered = [by_id[doc_id] for doc_id in model.ids_]
    words = [surface_of.get(term, term) for term in model.terms_.tolist()]
    found = runner.run(neighbor_block, NeighborWork(model, words, policy.duplicate_threshold, settings.article_links,
                                                    settings.teaser_length, rendered),
                       [(range(start, min(start + size, len(ordered))), ordered[start:start + size])
                        for start in range(0, len(ordered), size)])
    copies: dict[str, set[str]] = {}
    for block in found:  # near-duplicates both ways, across blocks
        for doc_id, others in block.copies.items():
            copies.setdefault(doc_id, set()).update(others)
    timings["top_k_s"] = time.perf_counter() - started
    started = time.perf_counter()
    textless = {a.id: dataclasses.replace(a, body="", summary="") for a in articles}
    cards = {card.id: card for block in found for card in block.cards} if rendered else None
    work = ListWork(policy, textless, copies, cards, model if policy.diversity > 0 else None)
    starts = range(0, len(ordered), size)
    done = runner.run(list_block, work, [(model.ids_[start:start + size], block.candidates)
                                         for start, block in zip(starts, found)])
    lists = dict(zip(model.ids_, (row for block in done for row in block)))
    timings["blend_s"] = time.perf_counter() - started
    return Batch(model, lists, timings)


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
            batch = compute(settings, articles, docs, surface_of, runner)
            batch.timings.update(runner.timings)
    else:
        batch = compute(settings, articles, docs, surface_of)
    started = time.perf_counter()
    with store.transaction():
        RelatedState(store).save_model(batch.model, surface_of,
                                       ((source, row.candidates) for source, row in batch.lists.items()))
        store.put_related_rows([(source, row.entries, row.payload, row.shown) for source, row in batch.lists.items()],
                               fresh=True)
    batch.timings["related_store_s"] = time.perf_counter() - started
    return batch.timings


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
    batch = compute(settings, articles, docs, {}, rendered=False)
    return ({source: [RelatedEntry.from_json(item) for item in json.loads(row.entries)]
             for source, row in batch.lists.items()}, batch.timings)
