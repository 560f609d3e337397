"""The fitted related model's persistence, so upserts need no refit.

A build stores what `RelatedModel.fit` learned (vocabulary, idf, median article length,
topic components), every article's vector and its text neighbours, through the version's
Store (search/store.py owns the tables). An upsert loads the model back, maps the new
articles into the stored vector space with `RelatedModel.transform`, lets the articles they
now beat take them into their neighbours, and returns the ids whose lists must be blended
again. All writes join the caller's store transaction.
"""

from __future__ import annotations

import json
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from indexer.related import REFERENCE_TERMS, WHY_TERMS, Neighbor, RelatedModel, pairwise_similarity
from search.document import IndexDoc
from search.store import Store, VectorRow

# The fitted median article length (terms); a version stored before it was kept has none,
# and its rows were weighed as with REFERENCE_TERMS.
MEDIAN_TERMS_KEY = "related_median_terms"


def encode_candidates(neighbors: Sequence[Neighbor]) -> str:
    """Text neighbours as related_candidates stores them."""
    return json.dumps([[n.id, round(n.similarity, 6), list(n.why)] for n in neighbors])


def _decode(items: str) -> list[Neighbor]:
    return [Neighbor(i, s, tuple(w)) for i, s, w in json.loads(items)]


class RelatedState:
    def __init__(self, store: Store):
        self.store = store

    # Full build -----------------------------------------------------------------------

    def save_model(self, model: RelatedModel, surface_of: Mapping[str, str],
                   candidates: Iterable[tuple[str, str]]) -> None:
        """`candidates`: (article id, its neighbours as `encode_candidates` gives them)."""
        with self.store.transaction():
            self.store.put_related_model(
                ((str(t), col, float(model.idf_[col]), surface_of.get(str(t), str(t)))
                 for col, t in enumerate(model.terms_)),
                () if model.topic_components_ is None else (row.tobytes() for row in model.topic_components_))
            self.store.set_meta({MEDIAN_TERMS_KEY: model.median_terms_})
            self.store.put_related_vectors(_vector_rows(model.ids_, model.matrix_, model.topics_))
            self.store.put_related_candidates(candidates)

    def load_model(self, params: Mapping[str, object]) -> tuple[RelatedModel, dict[int, str]]:
        """The stored fitted model (ready to `transform`) and each column's surface word."""
        rows = sorted(self.store.related_terms(), key=lambda row: row[1])
        model = RelatedModel(**params)
        model.vocabulary_ = {term: col for term, col, _, _ in rows}
        model.terms_ = np.array([term for term, _, _, _ in rows], dtype=object)
        model.idf_ = np.array([idf for _, _, idf, _ in rows], dtype=np.float32)
        model.median_terms_ = float(self.store.meta(MEDIAN_TERMS_KEY, REFERENCE_TERMS))
        topics = [np.frombuffer(blob, np.float32) for blob in self.store.related_topics()]
        model.topic_components_ = np.vstack(topics).reshape(len(topics), len(rows)) if topics else None
        return model, {col: surface for _, col, _, surface in rows}

    # Incremental ----------------------------------------------------------------------

    def candidates(self, ids: Iterable[str]) -> dict[str, list[Neighbor]]:
        return {source: _decode(items) for source, items in self.store.related_candidates(ids).items()}

    def update(self, docs: Sequence[IndexDoc], deleted: Sequence[str], params: Mapping[str, object]) -> set[str]:
        """Fold upserts and deletes into the candidates; returns the ids whose lists changed."""
        model, surface = self.load_model(params)
        columns = len(model.vocabulary_)
        changed_ids = {d.id for d in docs} | set(deleted)
        # Old vectors of changed articles: whoever had them as neighbours must be revisited.
        _, old, _ = _matrix(self.store.related_vectors(changed_ids), columns)
        others, matrix, topics = _matrix((row for row in self.store.related_vectors() if row[0] not in changed_ids),
                                         columns)
        new_matrix, new_topics = model.transform(docs)

        touched: set[str] = set()
        if old.shape[0]:
            touched.update(others[i] for i in np.unique((matrix @ old.T).tocoo().row))
        affected: dict[str, list[Neighbor]] = {}
        sims_new = (matrix @ new_matrix.T).toarray() if docs else np.zeros((len(others), 0))
        if topics is not None and new_topics is not None:
            # As in a build: topics re-order articles that share words, never add others.
            sims_new = np.where(sims_new > 0, model.similarity(sims_new, topics @ new_topics.T), 0.0)
        for j, doc in enumerate(docs):
            touched.update(others[i] for i in np.nonzero(sims_new[:, j] > 0)[0])
        current = self.candidates(touched)
        position = {doc_id: i for i, doc_id in enumerate(others)}
        for source in touched:
            row = position[source]
            kept = [n for n in current.get(source, []) if n.id not in changed_ids]
            for j, doc in enumerate(docs):
                similarity = float(sims_new[row, j])
                if similarity > 0:
                    kept.append(Neighbor(doc.id, similarity, _why(matrix[row], new_matrix[j], surface)))
            kept.sort(key=lambda n: (-n.similarity, n.id))
            affected[source] = kept[: model.n_candidates]

        for j, doc in enumerate(docs):
            sims = sims_new[:, j]
            order = np.argsort(-sims)[: model.n_candidates]
            affected[doc.id] = [
                Neighbor(others[i], float(sims[i]), _why(new_matrix[j], matrix[i], surface))
                for i in order if sims[i] > 0
            ]

        with self.store.transaction():
            self.store.delete_related_model_rows(deleted)
            self.store.put_related_vectors(_vector_rows([doc.id for doc in docs], new_matrix, new_topics))
            self.store.put_related_candidates((source, encode_candidates(neighbors)) for source, neighbors in affected.items())
        return set(affected) | touched

    def pairwise(self, ids: Iterable[str]) -> Callable[[str, str], float]:
        """Similarity between any two of `ids` from their stored vectors."""
        found, matrix, _ = _matrix(self.store.related_vectors(ids), len(self.store.related_terms()))
        return pairwise_similarity(found, matrix)


def _vector_rows(ids: Sequence[str], matrix: sp.csr_matrix, topics: np.ndarray | None) -> Iterable[VectorRow]:
    """related_vectors rows: each TF-IDF row's columns and weights, and its topic weights."""
    for row, doc_id in enumerate(ids):
        span = slice(matrix.indptr[row], matrix.indptr[row + 1])
        yield (doc_id, matrix.indices[span].astype(np.int32).tobytes(), matrix.data[span].astype(np.float32).tobytes(),
               None if topics is None else topics[row].tobytes())


def _matrix(rows: Iterable[VectorRow], columns: int) -> tuple[list[str], sp.csr_matrix, np.ndarray | None]:
    """Stored vectors as ids, TF-IDF rows and topic rows (None when any lacks topics)."""
    ids: list[str] = []
    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    topics: list[np.ndarray] = []
    for doc_id, cols, weights, topic in rows:
        ids.append(doc_id)
        c = np.frombuffer(cols, dtype=np.int32)
        indices.append(c)
        data.append(np.frombuffer(weights, dtype=np.float32))
        indptr.append(indptr[-1] + len(c))
        if topic is not None:
            topics.append(np.frombuffer(topic, dtype=np.float32))
    matrix = sp.csr_matrix(
        (np.concatenate(data) if data else np.zeros(0, np.float32),
         np.concatenate(indices) if indices else np.zeros(0, np.int32),
         np.array(indptr)),
        shape=(len(ids), columns),
    )
    return ids, matrix, (np.vstack(topics) if topics and len(topics) == len(ids) else None)


def _why(a: sp.csr_matrix, b: sp.csr_matrix, surface: Mapping[int, str]) -> tuple[str, ...]:
    product = a.multiply(b).tocoo()
    order = np.argsort(-product.data)[:WHY_TERMS]
    return tuple(surface.get(int(product.col[i]), "") for i in order)
