"""Related articles: a TF-IDF text model, then a blend with metadata and editor controls.

`RelatedModel` follows scikit-learn's estimator contract (parameters in __init__, `fit`
returns self, learned state ends in `_`). It sees the project's one analyzer through the
weighted terms already computed for the engine (title and labels count more), so each
article is analyzed once. Neighbours come from chunked sparse top-k products, so memory
stays bounded by the chunk, not by n^2.

`RelatedPolicy.blend` turns text neighbours into the list a reader sees: boosts for a
shared category, shared tags and recency; editor pins first; blocked pairs, excluded
categories, future-dated articles and near-duplicates dropped; short lists filled from
fallbacks and marked as such. Everything here runs at build or upsert time, never on view.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sparse_dot_topn import sp_matmul_topn

from search.article import Article, slugify
from search.engine import IndexDoc
from search.store import RelatedEntry

WHY_TERMS = 3
# Explanations look only at each source's strongest terms: cheaper, and the best reasons anyway.
WHY_SOURCE_TERMS = 50


def _pre_analyzed(terms: list[str]) -> list[str]:
    """TfidfVectorizer's analyzer: documents arrive as the analyzer's terms already."""
    return terms


@dataclass(frozen=True, slots=True)
class Neighbor:
    id: str
    similarity: float
    why: tuple[str, ...]  # stems of the top shared terms


class RelatedModel:
    """TF-IDF cosine neighbours of every article."""

    def __init__(self, n_candidates: int = 40, min_df: int | float = 1, max_df: float = 0.5,
                 chunk_size: int = 2000, n_threads: int | None = None):
        self.n_candidates = n_candidates
        self.min_df = min_df
        self.max_df = max_df
        self.chunk_size = chunk_size
        self.n_threads = n_threads

    def _vectorizer(self, n_docs: int) -> TfidfVectorizer:
        # max_df only makes sense once there are enough documents for a share to mean much.
        max_df = self.max_df if n_docs >= 20 else 1.0
        return TfidfVectorizer(analyzer=_pre_analyzed, sublinear_tf=True, min_df=self.min_df,
                               max_df=max_df, dtype=np.float32)

    def fit(self, docs: Sequence[IndexDoc]) -> "RelatedModel":
        self.ids_ = [doc.id for doc in docs]
        terms = [doc.terms for doc in docs]
        self.vectorizer_ = self._vectorizer(len(docs))
        try:
            self.matrix_ = self.vectorizer_.fit_transform(terms).tocsr()
        except ValueError:  # no term survives min_df/max_df (tiny or empty corpus)
            self.vectorizer_ = TfidfVectorizer(analyzer=_pre_analyzed, sublinear_tf=True, dtype=np.float32)
            self.matrix_ = self.vectorizer_.fit_transform([t or ["\x00empty"] for t in terms]).tocsr()
        self.terms_ = self.vectorizer_.get_feature_names_out()
        return self

    def transform(self, docs: Sequence[IndexDoc]) -> sp.csr_matrix:
        return self.vectorizer_.transform([doc.terms for doc in docs]).tocsr()

    def neighbors(self, queries: sp.csr_matrix | None = None, exclude_self: bool = True) -> list[list[Neighbor]]:
        """Top candidates for each query row (default: every fitted article), best first."""
        matrix = self.matrix_
        if queries is None:
            queries = matrix
        out: list[list[Neighbor]] = []
        top_n = min(self.n_candidates + 1, max(matrix.shape[0], 1))
        transposed = matrix.T.tocsr()
        for start in range(0, queries.shape[0], self.chunk_size):
            chunk = queries[start:start + self.chunk_size]
            product = sp_matmul_topn(chunk, transposed, top_n=top_n, threshold=0.0, sort=True,
                                     n_threads=self.n_threads)
            product = product.tocsr()
            rows = []
            for offset in range(chunk.shape[0]):
                lo, hi = product.indptr[offset], product.indptr[offset + 1]
                cols = product.indices[lo:hi]
                sims = product.data[lo:hi]
                own = start + offset if queries is matrix and exclude_self else -1
                keep = [(int(c), float(s)) for c, s in zip(cols, sims) if c != own][: self.n_candidates]
                rows.append(keep)
            why = self._shared_terms(chunk, rows)
            for row, row_why in zip(rows, why):
                out.append([Neighbor(self.ids_[c], s, w) for (c, s), w in zip(row, row_why)])
        return out

    def _shared_terms(self, chunk: sp.csr_matrix, rows: list[list[tuple[int, float]]]) -> list[list[tuple[str, ...]]]:
        """For each (query, neighbour) pair, the stems contributing most to their cosine."""
        pair_query = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        pair_target = np.array([c for r in rows for c, _ in r], dtype=np.int64)
        result: list[list[tuple[str, ...]]] = [[] for _ in rows]
        if len(pair_target) == 0:
            return result
        product = _strongest(chunk, WHY_SOURCE_TERMS)[pair_query].multiply(self.matrix_[pair_target]).tocsr()
        product.eliminate_zeros()
        counts = np.diff(product.indptr)
        pair_of = np.repeat(np.arange(len(pair_target)), counts)
        order = np.lexsort((-product.data, pair_of))
        rank = np.arange(len(order)) - product.indptr[pair_of[order]]
        top = order[rank < WHY_TERMS]
        why: list[list[str]] = [[] for _ in range(len(pair_target))]
        for pair, column in zip(pair_of[top], product.indices[top]):
            why[pair].append(str(self.terms_[column]))
        pair = 0
        for query, row in enumerate(rows):
            for _ in row:
                result[query].append(tuple(why[pair]))
                pair += 1
        return result


def _strongest(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Each row keeping only its n largest weights."""
    matrix = matrix.tocsr(copy=True)
    for row in range(matrix.shape[0]):
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        if hi - lo > n:
            values = matrix.data[lo:hi]
            values[values < np.partition(values, -n)[-n]] = 0
    matrix.eliminate_zeros()
    return matrix


@dataclass(frozen=True)
class RelatedPolicy:
    """How neighbours become the list readers see (settings + editor controls)."""

    k: int = 20
    min_score: float = 0.05
    category_boost: float = 0.05
    tag_boost: float = 0.03
    recency_boost: float = 0.02
    duplicate_threshold: float = 0.9
    diversity: float = 0.0
    exclude_categories: Mapping[str, Sequence[str]] = field(default_factory=dict)
    block_pairs: frozenset[frozenset[str]] = frozenset()
    pins: Mapping[str, Sequence[str]] = field(default_factory=dict)
    fallback: Sequence[str] = ("category", "recent")
    today: dt.date = field(default_factory=dt.date.today)

    @classmethod
    def from_settings(cls, settings, today: dt.date | None = None) -> "RelatedPolicy":
        return cls(
            k=settings.related_k,
            min_score=settings.related_min_score,
            category_boost=settings.related_category_boost,
            tag_boost=settings.related_tag_boost,
            recency_boost=settings.related_recency_boost,
            duplicate_threshold=settings.related_duplicate_threshold,
            diversity=settings.related_diversity,
            exclude_categories={
                slugify(src) if src != "*" else "*": [slugify(c) for c in targets]
                for src, targets in settings.related_exclude_categories.items()
            },
            block_pairs=frozenset(frozenset(pair) for pair in settings.related_block_pairs if pair[0] != pair[1]),
            pins={k: list(v) for k, v in settings.related_pins.items()},
            fallback=tuple(settings.related_fallback),
            today=today or dt.date.today(),
        )

    # Eligibility ---------------------------------------------------------------------

    def _excluded_categories(self, source: Article) -> set[str]:
        return set(self.exclude_categories.get(source.category_key, ())) | set(self.exclude_categories.get("*", ()))

    def allows(self, source: Article, target: Article) -> bool:
        if target.id == source.id:
            return False
        if target.published and target.published > self.today:
            return False
        if frozenset((source.id, target.id)) in self.block_pairs:
            return False
        if target.id in source.related_blocks or source.id in target.related_blocks:
            return False
        return target.category_key not in self._excluded_categories(source)

    def _boost(self, source: Article, target: Article) -> float:
        boost = 0.0
        if source.category_key and source.category_key == target.category_key:
            boost += self.category_boost
        shared_tags = len(set(source.tag_keys) & set(target.tag_keys))
        boost += self.tag_boost * min(shared_tags, 3)
        if target.published:
            age_days = (self.today - target.published).days
            boost += self.recency_boost * max(0.0, 1.0 - age_days / 365)
        return boost

    # The list -------------------------------------------------------------------------

    def blend(self, source: Article, neighbors: Sequence[Neighbor], articles: Mapping[str, Article],
              fallback_pool: Callable[[str | None], Iterable[Article]],
              pairwise: Callable[[str, str], float] | None = None) -> list[RelatedEntry]:
        """The final related list for `source` (at most k entries)."""
        entries: list[RelatedEntry] = []
        taken = {source.id}
        for pin in [*source.related_pins, *self.pins.get(source.id, ())]:
            if pin not in taken and pin in articles:
                entries.append(RelatedEntry(pin, 1.0, "pinned"))
                taken.add(pin)

        scored: list[tuple[float, Neighbor]] = []
        for neighbor in neighbors:
            target = articles.get(neighbor.id)
            if (target is None or neighbor.id in taken or neighbor.similarity < self.min_score
                    or neighbor.similarity >= self.duplicate_threshold or not self.allows(source, target)):
                continue
            scored.append((neighbor.similarity + self._boost(source, target), neighbor))
        scored.sort(key=lambda item: (-item[0], item[1].id))
        for score, neighbor in self._diversify(scored, pairwise):
            if len(entries) >= self.k:
                break
            entries.append(RelatedEntry(neighbor.id, score, "similar", neighbor.why))
            taken.add(neighbor.id)

        for strategy in self.fallback:
            if len(entries) >= self.k:
                break
            category = source.category_key if strategy == "category" else None
            if strategy == "category" and not category:
                continue
            for target in fallback_pool(category):
                if len(entries) >= self.k:
                    break
                if target.id not in taken and self.allows(source, target):
                    entries.append(RelatedEntry(target.id, 0.0, "fallback"))
                    taken.add(target.id)
        return entries

    def _diversify(self, scored: list[tuple[float, Neighbor]],
                   pairwise: Callable[[str, str], float] | None) -> list[tuple[float, Neighbor]]:
        """Maximal marginal relevance: each pick is penalized by its similarity to earlier picks."""
        if self.diversity <= 0 or pairwise is None or len(scored) < 3:
            return scored
        remaining = list(scored)
        picked: list[tuple[float, Neighbor]] = []
        while remaining and len(picked) < self.k:
            def marginal(item: tuple[float, Neighbor]) -> float:
                redundancy = max((pairwise(item[1].id, p[1].id) for p in picked), default=0.0)
                return item[0] - self.diversity * redundancy
            best = max(remaining, key=marginal)
            remaining.remove(best)
            picked.append(best)
        return picked


def recency_pools(articles: Iterable[Article]) -> Callable[[str | None], list[Article]]:
    """Fallback pools for a full build: articles by category (None = all), newest first."""
    ordered = sorted(articles, key=lambda a: (a.published or dt.date.min, a.id), reverse=True)
    by_category: dict[str | None, list[Article]] = {None: ordered}
    for article in ordered:
        by_category.setdefault(article.category_key, []).append(article)
    return lambda category: by_category.get(category, [])
