"""The fitted related model, kept in the version's store so upserts need no refit.

Tables (in store.sqlite, beside the lists readers see):
  related_terms       term -> column, idf, surface word (for explanations)
  related_topics      topic -> its NMF component over the columns (a float32 blob)
  related_vectors     article id -> its TF-IDF row (column indices + weights as blobs) and
                      its topic weights (a float32 blob; NULL when the model has no topics)
  related_candidates  article id -> text neighbours [[id, similarity, [why...]], ...]

An upserted article is vectorized against the fitted vocabulary; the articles it now
beats take it into their candidates; each touched list is blended again.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from indexer.related import WHY_TERMS, Neighbor, RelatedModel, pairwise_similarity, tfidf_rows
from search.engine import IndexDoc
from search.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS related_terms (term TEXT PRIMARY KEY, col INTEGER NOT NULL, idf REAL NOT NULL,
                                          surface TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS related_topics (topic INTEGER PRIMARY KEY, weights BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS related_vectors (id TEXT PRIMARY KEY, cols BLOB NOT NULL, weights BLOB NOT NULL,
                                            topics BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS related_candidates (source TEXT PRIMARY KEY, items TEXT NOT NULL) WITHOUT ROWID;
"""


def _encode(neighbors: Sequence[Neighbor]) -> str:
    return json.dumps([[n.id, round(n.similarity, 6), list(n.why)] for n in neighbors])


def _decode(items: str) -> list[Neighbor]:
    return [Neighbor(i, s, tuple(w)) for i, s, w in json.loads(items)]


class RelatedState:
    def __init__(self, store: Store):
        self.store = store
        store._conn.executescript(SCHEMA)

    # Full build -----------------------------------------------------------------------

    def save_model(self, model: RelatedModel, surface_of: Mapping[str, str],
                   candidates: Sequence[Sequence[Neighbor]]) -> None:
        idf = model.idf_
        matrix = model.matrix_
        topics = model.topics_
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO related_terms (term, col, idf, surface) VALUES (?, ?, ?, ?)",
                ((str(t), col, float(idf[col]), surface_of.get(str(t), str(t))) for col, t in enumerate(model.terms_)),
            )
            if model.topic_components_ is not None:
                conn.executemany("INSERT INTO related_topics (topic, weights) VALUES (?, ?)",
                                 enumerate(row.tobytes() for row in model.topic_components_))
            conn.executemany(
                "INSERT INTO related_vectors (id, cols, weights, topics) VALUES (?, ?, ?, ?)",
                ((doc_id, *_vector_blobs(matrix, topics, row)) for row, doc_id in enumerate(model.ids_)),
            )
            conn.executemany(
                "INSERT INTO related_candidates (source, items) VALUES (?, ?)",
                ((doc_id, _encode(neighbors)) for doc_id, neighbors in zip(model.ids_, candidates)),
            )
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('related_columns', ?)",
                         (json.dumps(len(model.terms_)),))

    # Incremental ----------------------------------------------------------------------

    def _vocabulary(self) -> tuple[dict[str, tuple[int, float]], dict[int, str], int]:
        vocab: dict[str, tuple[int, float]] = {}
        surface: dict[int, str] = {}
        for term, col, idf, word in self.store._conn.execute("SELECT term, col, idf, surface FROM related_terms"):
            vocab[term] = (col, idf)
            surface[col] = word
        columns = int(self.store.meta("related_columns", len(vocab)))
        return vocab, surface, columns

    def _topic_components(self, columns: int) -> np.ndarray | None:
        rows = [np.frombuffer(w, np.float32) for _, w in
                self.store._conn.execute("SELECT topic, weights FROM related_topics ORDER BY topic")]
        return np.vstack(rows).reshape(len(rows), columns) if rows else None

    @staticmethod
    def vectorize(docs: Sequence[IndexDoc], vocab: Mapping[str, tuple[int, float]], columns: int,
                  saturation: float) -> sp.csr_matrix:
        """TF-IDF rows of `docs` with the fitted vocabulary and idf, as a build weighs them."""
        counts = [Counter(t for t in doc.terms if t in vocab) for doc in docs]
        idf = np.zeros(columns, np.float32)
        for col, value in vocab.values():
            idf[col] = value
        return tfidf_rows(_rows_to_csr([{vocab[t][0]: n for t, n in c.items()} for c in counts], columns),
                          [len(doc.terms) for doc in docs], idf, saturation)

    def _all_vectors(self, columns: int, skip: set[str]) -> tuple[list[str], sp.csr_matrix, np.ndarray | None]:
        """Every stored article but `skip`: ids, TF-IDF rows, topic rows (None without topics)."""
        ids: list[str] = []
        indptr = [0]
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        topics: list[np.ndarray] = []
        for doc_id, cols, weights, topic in self.store._conn.execute(
                "SELECT id, cols, weights, topics FROM related_vectors"):
            if doc_id in skip:
                continue
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

    def candidates(self, ids: Iterable[str]) -> dict[str, list[Neighbor]]:
        ids = list(ids)
        found: dict[str, list[Neighbor]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for source, items in self.store._conn.execute(
                f"SELECT source, items FROM related_candidates WHERE source IN ({marks})", chunk
            ):
                found[source] = _decode(items)
        return found

    def update(self, docs: Sequence[IndexDoc], deleted: Sequence[str], model: RelatedModel) -> set[str]:
        """Fold upserts and deletes into the candidates; returns the ids whose lists changed."""
        vocab, surface, columns = self._vocabulary()
        changed_ids = {d.id for d in docs} | set(deleted)
        # Old vectors of changed articles: whoever had them as neighbours must be revisited.
        _, old = self._vectors_of(changed_ids, columns)
        others, matrix, topics = self._all_vectors(columns, skip=changed_ids)
        new_matrix = self.vectorize(docs, vocab, columns, model.tf_saturation)
        components = self._topic_components(columns)
        new_topics = model.topic_vectors(new_matrix, components) if docs and components is not None else None

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

        with self.store.transaction() as conn:
            for doc_id in deleted:
                conn.execute("DELETE FROM related_vectors WHERE id = ?", (doc_id,))
                conn.execute("DELETE FROM related_candidates WHERE source = ?", (doc_id,))
            conn.executemany("INSERT OR REPLACE INTO related_vectors (id, cols, weights, topics) VALUES (?, ?, ?, ?)",
                             [(doc.id, *_vector_blobs(new_matrix, new_topics, j)) for j, doc in enumerate(docs)])
            conn.executemany("INSERT OR REPLACE INTO related_candidates (source, items) VALUES (?, ?)",
                             [(source, _encode(neighbors)) for source, neighbors in affected.items()])
        return set(affected) | touched

    def pairwise(self, ids: Iterable[str]) -> Callable[[str, str], float]:
        """Similarity between any two of `ids` from their stored vectors."""
        _, _, columns = self._vocabulary()
        found, matrix = self._vectors_of(ids, columns)
        return pairwise_similarity(found, matrix)

    def _vectors_of(self, ids: Iterable[str], columns: int) -> tuple[list[str], sp.csr_matrix]:
        rows: list[dict[int, float]] = []
        found: list[str] = []
        for doc_id in ids:
            row = self.store._conn.execute("SELECT cols, weights FROM related_vectors WHERE id = ?", (doc_id,)).fetchone()
            if row:
                found.append(doc_id)
                rows.append(dict(zip(np.frombuffer(row[0], np.int32).tolist(), np.frombuffer(row[1], np.float32).tolist())))
        return found, _rows_to_csr(rows, columns)


def _vector_blobs(matrix: sp.csr_matrix, topics: np.ndarray | None, row: int) -> tuple[bytes, bytes, bytes | None]:
    """A related_vectors row: the TF-IDF row's columns and weights, and its topic weights."""
    span = slice(matrix.indptr[row], matrix.indptr[row + 1])
    return (matrix.indices[span].astype(np.int32).tobytes(), matrix.data[span].astype(np.float32).tobytes(),
            None if topics is None else topics[row].tobytes())


def _rows_to_csr(rows: Sequence[Mapping[int, float]], columns: int) -> sp.csr_matrix:
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for row in rows:
        for col in sorted(row):
            indices.append(col)
            data.append(row[col])
        indptr.append(len(indices))
    return sp.csr_matrix((np.array(data, np.float32), np.array(indices, np.int32), np.array(indptr)),
                         shape=(len(rows), columns))


def _why(a: sp.csr_matrix, b: sp.csr_matrix, surface: Mapping[int, str]) -> tuple[str, ...]:
    product = a.multiply(b).tocoo()
    order = np.argsort(-product.data)[:WHY_TERMS]
    return tuple(surface.get(int(product.col[i]), "") for i in order)
