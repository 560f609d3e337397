"""The fitted related model's persistence, so upserts need no refit.

A build stores what `RelatedModel.fit` learned (vocabulary, idf, median article length,
finding columns, topic components), every article's vector and its text neighbours, through
the version's Store (search/store.py owns the tables). An upsert loads the model back, maps
the new articles into the stored vector space with `RelatedModel.transform`, lets the
articles whose rarer words meet theirs and that they now beat take them into their
neighbours, and returns the ids whose candidates changed: the lists to blend again. All
writes join the caller's store transaction.
"""

from __future__ import annotations

import json
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from indexer.related import (REFERENCE_TERMS, WHY_TERMS, Neighbor, RelatedModel, pair_cosines,
                             pairwise_similarity)
from search.document import IndexDoc
from search.store import Store, VectorRow

# The fitted median article length (terms); a version stored before it was kept has none,
# and its rows were weighed as with REFERENCE_TERMS.
MEDIAN_TERMS_KEY = "related_median_terms"
# The smallest idf of the columns candidates are found on (`finding_columns_`, the terms of
# at most max_df of the articles): those columns are the ones with an idf at least this.
# A version stored before it was kept found candidates on every column.
FINDING_MIN_IDF_KEY = "related_finding_min_idf"


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
            finding_idf = model.idf_[model.finding_columns_]
            self.store.set_meta({MEDIAN_TERMS_KEY: model.median_terms_,
                                 FINDING_MIN_IDF_KEY: float(finding_idf.min()) if finding_idf.size else None})
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
        finding_min_idf = self.store.meta(FINDING_MIN_IDF_KEY)
        model.finding_columns_ = (np.arange(len(rows)) if finding_min_idf is None
                                  else np.flatnonzero(model.idf_ >= np.float32(finding_min_idf)))
        return model, {col: surface for _, col, _, surface in rows}

    # Incremental ----------------------------------------------------------------------

    def candidates(self, ids: Iterable[str]) -> dict[str, list[Neighbor]]:
        return {source: _decode(items) for source, items in self.store.related_candidates(ids).items()}

    def update(self, docs: Sequence[IndexDoc], deleted: Sequence[str], params: Mapping[str, object]) -> set[str]:
        """Fold upserts and deletes into the candidates; returns the ids whose candidates changed."""
        model, surface = self.load_model(params)
        columns = len(model.vocabulary_)
        changed_ids = {d.id for d in docs} | set(deleted)
        # Old vectors of changed articles: whoever had them as neighbours must be revisited.
        _, old, _ = _matrix(self.store.related_vectors(changed_ids), columns)
        others, matrix, topics = _matrix((row for row in self.store.related_vectors() if row[0] not in changed_ids),
                                         columns)
        new_matrix, new_topics = model.transform(docs)

        # As in a build, an article is a candidate of another only where their rarer words
        # (`finding_columns_`) meet, and is then scored with every word: an article sharing
        # only common words with the whole site changes no list. New articles are compared
        # with the stored ones and with each other.
        stored = len(others)
        ids = others + [doc.id for doc in docs]
        vectors = sp.vstack([matrix, new_matrix]).tocsr()
        all_topics = None if topics is None or new_topics is None else np.vstack([topics, new_topics])
        finding = model.finding_rows(vectors)
        touched: set[str] = set()
        if old.shape[0]:
            touched.update(others[i] for i in np.unique((finding[:stored] @ model.finding_rows(old).T).tocoo().row))
        found = (finding @ finding[stored:].T).tocoo()  # (any article, new article) pairs
        apart = found.row != found.col + stored  # an article is not its own neighbour
        pair_rows, pair_docs, finding_sims = found.row[apart], found.col[apart], found.data[apart]
        sims = pair_cosines(vectors, pair_rows, new_matrix, pair_docs)
        if all_topics is not None:
            sims = model.similarity(sims, np.einsum("ij,ij->i", all_topics[pair_rows], new_topics[pair_docs]))
        new_neighbors: dict[int, list[tuple[int, float]]] = {}  # stored row -> (new article, similarity)
        for row, j, similarity in zip(pair_rows.tolist(), pair_docs.tolist(), sims.tolist()):
            if similarity > 0 and row < stored:
                new_neighbors.setdefault(row, []).append((j, similarity))
        touched.update(others[row] for row in new_neighbors)

        affected: dict[str, list[Neighbor]] = {}
        current = self.candidates(touched)
        position = {doc_id: i for i, doc_id in enumerate(others)}
        for source in touched:
            row = position[source]
            kept = [n for n in current.get(source, []) if n.id not in changed_ids]
            kept += [Neighbor(docs[j].id, similarity, _why(matrix[row], new_matrix[j], surface))
                     for j, similarity in new_neighbors.get(row, ())]
            kept.sort(key=lambda n: (-n.similarity, n.id))
            kept = kept[: model.n_candidates]
            if encode_candidates(kept) != encode_candidates(current.get(source, [])):  # as stored
                affected[source] = kept

        for j, doc in enumerate(docs):
            pairs = np.flatnonzero(pair_docs == j)
            pairs = pairs[np.argsort(-finding_sims[pairs], kind="stable")[: model.finding_pool]]
            pairs = pairs[np.argsort(-sims[pairs], kind="stable")[: model.n_candidates]]
            affected[doc.id] = [
                Neighbor(ids[pair_rows[p]], float(sims[p]), _why(new_matrix[j], vectors[pair_rows[p]], surface))
                for p in pairs.tolist() if sims[p] > 0
            ]

        with self.store.transaction():
            self.store.delete_related_model_rows(deleted)
            self.store.put_related_vectors(_vector_rows([doc.id for doc in docs], new_matrix, new_topics))
            self.store.put_related_candidates((source, encode_candidates(neighbors)) for source, neighbors in affected.items())
        return set(affected)

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
