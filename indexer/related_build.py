"""The related lists of a build and of an upsert: the model fitted (or its stored state
updated), neighbours found, each list blended with metadata and editor controls, and
rendered into the bytes readers are sent (search/related_lists.py), all into the version's
store in the caller's transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from indexer.related import (CANDIDATE_MARGIN, Neighbor, RelatedModel, RelatedPolicy, near_duplicates,
                             pairwise_similarity, recency_pools)
from indexer.related_state import RelatedState
from search.article import Article
from search.config import Settings
from search.document import IndexDoc
from search.related_lists import RelatedEntry, RelatedPayload, render
from search.store import Store


def model_params(settings: Settings) -> dict[str, object]:
    return {"n_candidates": settings.related_k + CANDIDATE_MARGIN, "min_df": 1, "max_df": "auto",
            "tf_saturation": settings.related_tf_saturation, "n_topics": settings.related_topics,
            "topic_weight": settings.related_topic_weight}


@dataclass
class Batch:
    """A build's related lists and what made them."""

    model: RelatedModel
    candidates: list[list[Neighbor]]  # each fitted article's text neighbours, in model.ids_ order
    lists: dict[str, list[RelatedEntry]]
    timings: dict[str, float]


def compute(settings: Settings, articles: Sequence[Article], docs: Sequence[IndexDoc],
            surface_of: Mapping[str, str]) -> Batch:
    """Fit, find neighbours, blend. `surface_of`: each stem's written word, for explanations."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    model = RelatedModel(**model_params(settings)).fit(docs)
    timings["fit_s"] = time.perf_counter() - started
    started = time.perf_counter()
    candidates = [
        [Neighbor(n.id, n.similarity, tuple(surface_of.get(t, t) for t in n.why)) for n in row]
        for row in model.neighbors()
    ]
    timings["top_k_s"] = time.perf_counter() - started
    started = time.perf_counter()
    by_id = {a.id: a for a in articles}
    policy = RelatedPolicy.from_settings(settings)
    pools = recency_pools(articles)
    pairwise = pairwise_similarity(model.ids_, model.matrix_)
    copies = near_duplicates(dict(zip(model.ids_, candidates)), policy.duplicate_threshold)
    lists = {doc_id: policy.blend(by_id[doc_id], row, by_id, pools, pairwise, copies)
             for doc_id, row in zip(model.ids_, candidates)}
    timings["blend_s"] = time.perf_counter() - started
    return Batch(model, candidates, lists, timings)


def payloads(settings: Settings, lists: Mapping[str, list[RelatedEntry]],
             article: Callable[[str], Article | None]) -> dict[str, tuple[list[RelatedEntry], RelatedPayload]]:
    """Each list with its payload (`article` looks up the articles it shows)."""
    rendered = {}
    for source, entries in lists.items():
        shown = {e.id: found for e in entries if (found := article(e.id)) is not None}
        # Root-relative links: the host (site_url, else the request's) is added when served.
        rendered[source] = (entries, render(entries, shown, article_links=settings.article_links,
                                            teaser_length=settings.teaser_length))
    return rendered


def build(settings: Settings, store: Store, articles: Sequence[Article], docs: Sequence[IndexDoc],
          surface_of: Mapping[str, str]) -> dict[str, float]:
    """A new version's related model and lists, into its (new) store; returns timings."""
    if not docs:
        return {}
    batch = compute(settings, articles, docs, surface_of)
    started = time.perf_counter()
    by_id = {a.id: a for a in articles}
    with store.transaction():
        RelatedState(store).save_model(batch.model, surface_of, batch.candidates)
        store.put_related(payloads(settings, batch.lists, by_id.get), fresh=True)
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
    store.put_related(payloads(settings, lists, shown.get))
    return len(changed)


def _lookup(store: Store, known: Mapping[str, Article], ids: Iterable[str]) -> dict[str, Article]:
    """`known` articles plus the others of `ids` read from the store (fallbacks, pins)."""
    found = dict(known)
    found.update(store.articles({i for i in ids if i not in found}))
    return found


def related_lists(settings: Settings, articles: Sequence[Article],
                  docs: Sequence[IndexDoc]) -> tuple[dict[str, list[RelatedEntry]], dict[str, float]]:
    """The related lists for articles already analyzed (for evaluation: no index is written)."""
    batch = compute(settings, articles, docs, {})
    return batch.lists, batch.timings
