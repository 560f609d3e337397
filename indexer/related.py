"""Related articles: a text model, then a blend with metadata and editor controls.

`RelatedModel` follows scikit-learn's estimator contract (parameters in __init__, `fit`
returns self, learned state ends in `_`). It sees the project's one analyzer through the
weighted terms already computed for the engine (title and labels count more), so each
article is analyzed once. Its similarity is a TF-IDF cosine (term frequency saturating with
the article's length) plus a small share of the cosine of the articles' broad topics (NMF).
Neighbours come from chunked sparse top-k products, so memory stays bounded by the chunk,
not by n^2.

`RelatedPolicy.blend` turns text neighbours into the list a reader sees: boosts for a
shared category, shared tags and recency; editor pins first; blocked pairs, excluded
categories, future-dated articles and near-duplicates dropped; short lists filled from
fallbacks and marked as such. Everything here runs at build or upsert time, never on view.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Callable, Collection, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF, non_negative_factorization
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize
from sparse_dot_topn import sp_matmul_topn

from search.article import Article, slugify
from search.config import Settings
from search.document import IndexDoc
from search.related_lists import RelatedEntry

# Every default below is the setting's own, declared once in search/config.py.
DEFAULTS = Settings()
# Text neighbours found beyond the list's length: room for the blend to drop and re-order.
CANDIDATE_MARGIN = 10
WHY_TERMS = 3
# Candidates are found without the terms of more than max(MAX_DF_DOCS, MAX_DF_SHARE x n)
# articles: their long postings are what makes all-pairs similarity slow (100k articles in
# seconds instead of minutes; docs/benchmarks.md). The candidates are then scored with every
# term: the common words of a site's sections say which section an article belongs to
# (measured on the labelled corpora of docs/related.md).
MAX_DF_DOCS = 500
MAX_DF_SHARE = 0.01
PAIR_BLOCK = 20_000  # candidate pairs scored at once
# Topics are learned from at most this many articles (then every article is projected):
# a sample shows a dozen broad themes as well as the whole does, and NMF's time grows with
# it (30k articles: 21 s from a 20k sample, 3.6 s from 5k; docs/benchmarks.md).
TOPIC_SAMPLE = 5_000
TOPIC_MAX_ITER = 300
# The median article length (in terms) at which related_tf_saturation applies as set
# (`collection_saturation`); a model stored without its median is taken to have this one.
REFERENCE_TERMS = 500.0


def _pre_analyzed(terms: list[str]) -> list[str]:
    """The vectorizer's analyzer: documents arrive as the analyzer's terms already."""
    return terms


def saturated_tf(counts: np.ndarray, lengths: np.ndarray, saturation: float) -> np.ndarray:
    """Term frequency that saturates like BM25's, with a constant that grows with the
    article's length (k = saturation x terms in the article): a short piece that repeats a
    word is not much more about it, a long one that keeps coming back to a word is.
    (Measured against 1 + log tf on the labelled corpora of docs/related.md.)"""
    k = saturation * lengths
    return counts * (k + 1) / (counts + k)


def collection_saturation(saturation: float, median_terms: float) -> float:
    """The saturation `saturated_tf` uses on a collection whose median article has
    `median_terms` terms: the setting, scaled by that median over REFERENCE_TERMS. On a site
    of long articles, the words an article keeps coming back to say what it is about, and
    their repeats count longer; on a site of short pages, a phrase said once (a section's
    template question) does, and repeats stop counting sooner (docs/related.md)."""
    return saturation * median_terms / REFERENCE_TERMS


def tfidf_rows(counts: sp.csr_matrix, lengths: Sequence[int], idf: np.ndarray, saturation: float) -> sp.csr_matrix:
    """Count rows -> L2-normalised TF-IDF rows (`saturated_tf` x idf): the one weighting of a
    build's fit and of an upsert against the stored vocabulary."""
    weighted = counts.astype(np.float32, copy=True)
    if weighted.shape[0] == 0:  # a delete-only update has nothing to weigh
        return weighted.tocsr()
    row_lengths = np.repeat(np.asarray(lengths, dtype=np.float32), np.diff(weighted.indptr))
    weighted.data = saturated_tf(weighted.data, row_lengths, saturation)
    return normalize(weighted @ sp.diags(idf)).tocsr().astype(np.float32)


def smooth_idf(document_frequency: np.ndarray, n_docs: int) -> np.ndarray:
    """scikit-learn's smoothed idf: ln((1 + n) / (1 + df)) + 1."""
    return (np.log((1 + n_docs) / (1 + document_frequency)) + 1).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Neighbor:
    id: str
    similarity: float
    why: tuple[str, ...]  # stems of the top shared terms


class RelatedModel:
    """Nearest articles by text: TF-IDF cosine blended with broad-topic cosine.

    similarity = (1 - topic_weight) x cos(TF-IDF) + topic_weight x cos(topics), where the
    TF-IDF rows use `saturated_tf` (scaled by `collection_saturation`) and the topics are an
    NMF of those rows with `n_topics` components. Candidates come from the TF-IDF neighbours
    (twice as many as kept) over the terms of at most `max_df` of the articles
    (`finding_columns_`), and are scored with every term, so topics re-order what the rarer
    words found and never bring in an article sharing none of them.

    What `fit` learns: `vocabulary_` (term -> column), `terms_`, `idf_`, `median_terms_`,
    `finding_columns_` and `topic_components_` (None without topics): all `transform` needs,
    and all that is stored (indexer/related_state.py) and loaded back for upserts (which
    compare an article with every stored one on the finding columns, so they need no
    candidates). The fitted articles' own vectors (`ids_`, `matrix_`, `topics_`) and the
    transpose of the rows cut to `finding_columns_` are what `neighbors` compares.
    """

    def __init__(self, n_candidates: int = DEFAULTS.related_k + CANDIDATE_MARGIN, min_df: int | float = 1,
                 max_df: float | str = "auto", tf_saturation: float = DEFAULTS.related_tf_saturation,
                 n_topics: int = DEFAULTS.related_topics, topic_weight: float = DEFAULTS.related_topic_weight,
                 chunk_size: int = 2000, n_threads: int | None = None, random_state: int = 0):
        self.n_candidates = n_candidates
        self.min_df = min_df
        self.max_df = max_df
        self.tf_saturation = tf_saturation
        self.n_topics = n_topics
        self.topic_weight = topic_weight
        self.chunk_size = chunk_size
        self.n_threads = n_threads
        self.random_state = random_state

    def _max_df(self, n_docs: int) -> float:
        if n_docs < 20:
            return 1.0  # too few articles for a share to mean much
        if self.max_df == "auto":
            return min(0.5, max(MAX_DF_DOCS / n_docs, MAX_DF_SHARE))
        return float(self.max_df)

    def fit(self, docs: Sequence[IndexDoc]) -> "RelatedModel":
        self.ids_ = [doc.id for doc in docs]
        terms = [doc.terms for doc in docs]
        vectorizer = CountVectorizer(analyzer=_pre_analyzed, min_df=self.min_df, dtype=np.float32)
        try:
            counts = vectorizer.fit_transform(terms)
        except ValueError:  # no term survives min_df (tiny or empty corpus)
            vectorizer = CountVectorizer(analyzer=_pre_analyzed, dtype=np.float32)
            counts = vectorizer.fit_transform([t or ["\x00empty"] for t in terms])
        counts = counts.tocsr()
        self.vocabulary_ = dict(vectorizer.vocabulary_)
        self.terms_ = vectorizer.get_feature_names_out()
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf_ = smooth_idf(document_frequency, counts.shape[0])
        lengths = [len(t) for t in terms]
        self.median_terms_ = float(np.median(lengths))
        self.matrix_ = tfidf_rows(counts, lengths, self.idf_, self.saturation_)
        rarer = document_frequency <= self._max_df(len(docs)) * len(docs)
        # Where every term is common (a tiny corpus), candidates are found on them all.
        self.finding_columns_ = np.flatnonzero(rarer if rarer.any() else np.ones_like(rarer))
        # What every row's top-k product multiplies by; the rows themselves are cut from
        # matrix_ chunk by chunk (`finding_rows`), so a worker holds one copy of the rows.
        self.transposed_ = self.finding_rows(self.matrix_).T.tocsr()
        self.topic_components_ = self._fit_topics(self.matrix_)
        self.topics_ = self._topic_vectors(self.matrix_)
        return self

    def transform(self, docs: Sequence[IndexDoc]) -> tuple[sp.csr_matrix, np.ndarray | None]:
        """Articles in the fitted vector space: their TF-IDF rows (the fitted vocabulary and
        idf, weighed as `fit` weighs) and their topic weights (None without topics)."""
        vectorizer = CountVectorizer(analyzer=_pre_analyzed, vocabulary=self.vocabulary_, dtype=np.float32)
        counts = vectorizer.transform([doc.terms for doc in docs]).tocsr()
        matrix = tfidf_rows(counts, [len(doc.terms) for doc in docs], self.idf_, self.saturation_)
        return matrix, self._topic_vectors(matrix) if len(docs) else None

    @property
    def saturation_(self) -> float:
        """The saturation this model's rows are weighed with (`collection_saturation`)."""
        return collection_saturation(self.tf_saturation, self.median_terms_)

    def _fit_topics(self, matrix: sp.csr_matrix) -> np.ndarray | None:
        n = matrix.shape[0]
        if self.topic_weight <= 0 or self.n_topics < 1 or n < 2 * self.n_topics or matrix.shape[1] < self.n_topics:
            return None  # too few articles to learn themes from
        sample = matrix
        if n > TOPIC_SAMPLE:
            rows = np.random.default_rng(self.random_state).choice(n, TOPIC_SAMPLE, replace=False)
            sample = matrix[np.sort(rows)]
        nmf = NMF(self.n_topics, init="nndsvda", max_iter=TOPIC_MAX_ITER, random_state=self.random_state)
        with warnings.catch_warnings():
            # Stopping at max_iter still gives usable themes; more iterations cost build time.
            warnings.simplefilter("ignore", ConvergenceWarning)
            nmf.fit(sample)
        return nmf.components_.astype(np.float32)

    def _topic_vectors(self, matrix: sp.csr_matrix) -> np.ndarray | None:
        """Rows of TF-IDF -> L2-normalised topic weights (None when the model has no topics)."""
        components = self.topic_components_
        if components is None:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            weights, _, _ = non_negative_factorization(
                matrix, H=components, n_components=components.shape[0], update_H=False,
                max_iter=TOPIC_MAX_ITER, random_state=self.random_state)
        return normalize(weights).astype(np.float32)

    def finding_rows(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """TF-IDF rows cut to the finding columns, L2-normalised (row by row: any chunk of rows
        gives the same values)."""
        cut = rows[:, self.finding_columns_].tocsr()
        return normalize(cut) if cut.shape[0] else cut

    @property
    def finding_pool(self) -> int:
        """How many articles the rarer words find for one article (itself apart), for every
        word to score."""
        return 2 * self.n_candidates

    def similarity(self, text_cosine: np.ndarray, topic_cosine: np.ndarray | None) -> np.ndarray:
        """The final similarity from the TF-IDF cosine and the topic cosine (None: no topics)."""
        if topic_cosine is None:
            return text_cosine
        return ((1 - self.topic_weight) * text_cosine + self.topic_weight * topic_cosine).astype(np.float32)

    def neighbors(self, rows: range | None = None, words: Sequence[str] | None = None) -> list[list[Neighbor]]:
        """Top candidates for the fitted articles in `rows` (all by default), best first,
        itself excluded, each with its explanation: the terms contributing most to the TF-IDF
        cosine, as `words` gives each column (the stems by default). A row's candidates do not
        depend on which rows are asked with it."""
        matrix = self.matrix_
        n = matrix.shape[0]
        span = range(n) if rows is None else rows
        if n == 0 or not span:
            return []
        terms = self.terms_.tolist() if words is None else words
        pool = min(self.finding_pool + 1, n)  # each row finds itself too
        topics = self.topics_
        out: list[list[Neighbor]] = []
        for start in range(span.start, span.stop, self.chunk_size):
            stop = min(start + self.chunk_size, span.stop)
            chunk = matrix[start:stop]
            found = sp_matmul_topn(self.finding_rows(chunk), self.transposed_, top_n=pool, threshold=0.0,
                                   n_threads=self.n_threads).tocsr()
            rows = np.repeat(np.arange(found.shape[0]), np.diff(found.indptr))
            keep = found.indices != rows + start
            rows, cols = rows[keep], found.indices[keep]
            sims = pair_cosines(matrix, rows + start, matrix, cols)
            if topics is not None:
                sims = self.similarity(sims, np.einsum("ij,ij->i", topics[rows + start], topics[cols]))
            chosen = _top_per_group(rows, sims, self.n_candidates)
            rows, cols, sims = rows[chosen], cols[chosen], sims[chosen]
            why_columns, bounds = _top_columns(chunk[rows].multiply(matrix[cols]), WHY_TERMS)
            why = [terms[c] for c in why_columns.tolist()]
            ids = self.ids_
            rows_out: list[list[Neighbor]] = [[] for _ in range(chunk.shape[0])]
            for pair, (row, col, sim) in enumerate(zip(rows.tolist(), cols.tolist(), sims.tolist())):
                rows_out[row].append(Neighbor(ids[col], sim, tuple(why[bounds[pair]:bounds[pair + 1]])))
            out.extend(rows_out)
        return out


def pair_cosines(left: sp.csr_matrix, first: np.ndarray, right: sp.csr_matrix, second: np.ndarray) -> np.ndarray:
    """Cosines of the row pairs (left[first[i]], right[second[i]]) of L2-normalised matrices,
    PAIR_BLOCK pairs at a time (each pair copies both rows)."""
    blocks = [np.asarray(left[first[i:i + PAIR_BLOCK]].multiply(right[second[i:i + PAIR_BLOCK]]).sum(axis=1))
              for i in range(0, len(first), PAIR_BLOCK)]
    return np.concatenate(blocks).ravel().astype(np.float32) if blocks else np.zeros(0, np.float32)


def _top_per_group(groups: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values within each group (groups sorted ascending), best first."""
    order = np.lexsort((-values, groups))
    sorted_groups = groups[order]
    starts = np.searchsorted(sorted_groups, sorted_groups, side="left")
    return order[(np.arange(len(order)) - starts) < k]


def _top_columns(matrix: sp.csr_matrix, k: int) -> tuple[np.ndarray, list[int]]:
    """The columns of each row's k largest entries (largest first), and where each row's
    run starts and ends in them (row i: columns[bounds[i]:bounds[i + 1]])."""
    matrix = matrix.tocsr()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    chosen = _top_per_group(rows, matrix.data, k)
    bounds = np.searchsorted(rows[chosen], np.arange(matrix.shape[0] + 1)).tolist()
    return matrix.indices[chosen], bounds


@dataclass(frozen=True)
class RelatedPolicy:
    """How neighbours become the list readers see (settings + editor controls)."""

    k: int = DEFAULTS.related_k
    min_score: float = DEFAULTS.related_min_score
    category_boost: float = DEFAULTS.related_category_boost
    tag_boost: float = DEFAULTS.related_tag_boost
    recency_boost: float = DEFAULTS.related_recency_boost
    duplicate_threshold: float = DEFAULTS.related_duplicate_threshold
    diversity: float = DEFAULTS.related_diversity
    exclude_categories: Mapping[str, Sequence[str]] = field(default_factory=dict)
    block_pairs: frozenset[frozenset[str]] = frozenset()
    pins: Mapping[str, Sequence[str]] = field(default_factory=dict)
    fallback: Sequence[str] = tuple(DEFAULTS.related_fallback)
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
              pairwise: Callable[[str, str], float] | None = None,
              copies: Mapping[str, Collection[str]] | None = None) -> list[RelatedEntry]:
        """The final related list for `source` (at most k entries). `copies` maps an article
        to its near-duplicates (`near_duplicates`): a list shows one of each story."""
        copies = copies or {}
        entries: list[RelatedEntry] = []
        taken = {source.id}

        def is_copy(target_id: str) -> bool:
            return not taken.isdisjoint(copies.get(target_id, ()))

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
            if is_copy(neighbor.id):
                continue
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
                if target.id not in taken and self.allows(source, target) and not is_copy(target.id):
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


def near_duplicates(candidates: Mapping[str, Sequence[Neighbor]], threshold: float) -> dict[str, set[str]]:
    """Each article's near-duplicates (similarity at or above `threshold`, both ways) among
    the candidates: the same story under two URLs is shown once per list."""
    copies: dict[str, set[str]] = {}
    for source, row in candidates.items():
        for neighbor in row:
            if neighbor.similarity >= threshold:
                copies.setdefault(source, set()).add(neighbor.id)
                copies.setdefault(neighbor.id, set()).add(source)
    return copies


def pairwise_similarity(ids: Sequence[str], matrix: sp.csr_matrix) -> Callable[[str, str], float]:
    """Cosine similarity of two articles from their L2-normalised TF-IDF rows (0 for an
    article without a row); for the list's diversity."""
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    if not matrix.has_canonical_format:  # each row's columns sorted and unique
        matrix = matrix.copy()
        matrix.sum_duplicates()
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data

    def similarity(a: str, b: str) -> float:
        i, j = position.get(a), position.get(b)
        if i is None or j is None:
            return 0.0
        # The two rows' shared columns, read from the CSR arrays: slicing rows through
        # scipy costs ten times as much, and a list's diversity asks for many pairs.
        row_a, row_b = slice(indptr[i], indptr[i + 1]), slice(indptr[j], indptr[j + 1])
        _, in_a, in_b = np.intersect1d(indices[row_a], indices[row_b], assume_unique=True, return_indices=True)
        return float(data[row_a][in_a] @ data[row_b][in_b])

    return similarity


def recency_pools(articles: Iterable[Article]) -> Callable[[str | None], list[Article]]:
    """Fallback pools for a full build: articles by category (None = all), newest first."""
    ordered = sorted(articles, key=lambda a: (a.published or dt.date.min, a.id), reverse=True)
    by_category: dict[str | None, list[Article]] = {None: ordered}
    for article in ordered:
        by_category.setdefault(article.category_key, []).append(article)
    return lambda category: by_category.get(category, [])
