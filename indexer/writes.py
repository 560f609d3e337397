"""Incremental writes to an index version: one path, atomic across journal, engine and store.

Under the write lock (held by the caller, indexer/build.py):

1. the batch is journaled as *pending* (indexer/journal.py);
2. the engine applies it and commits: readers skip a hit the store does not have yet;
3. the store applies it in ONE transaction: articles, lexicon, related vectors, candidates
   and lists, the write generation and the journal position. This commit is the commit
   point: readers see all of the write or none of it;
4. the journal marks the batch committed; the manifest's doc_count follows the store.

A failure before (3) commits is undone: the engine is put back to the store's state for
the batch's ids and the pending batch is removed, so a write answered with an error never
appears later. A batch left pending by a killed process is resolved by `recover`, which
every write and build runs first: committed in the store, it is marked committed; else it
is undone the same way. Builds replay committed batches only.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from indexer import related_build
from indexer.journal import Batch, Journal
from indexer.lexicon import spelling_min_df
from indexer.storage import refused_by_disk
from search import feedback
from search.analysis import WordMemory
from search.article import Article
from search.config import Settings
from search.document import IndexDoc, analyze_article
from search.engines import open_engine
from search.store import STORE_FILE, Store
from search.versions import IndexNotFound, Layout, read_manifest, write_manifest
from search.write_errors import StorageError

log = logging.getLogger(__name__)


@dataclass
class UpdateReport:
    upserted: int = 0
    deleted: int = 0
    related_updated: int = 0


class VersionWriter:
    """Applies journaled writes to index versions; the caller holds the write lock."""

    def __init__(self, settings: Settings, layout: Layout, journal: Journal):
        self.settings = settings
        self.layout = layout
        self.journal = journal

    def write(self, version: Path, upserts: Sequence[Article], deletes: Sequence[str]) -> UpdateReport:
        """Journal, apply and commit one write, or change nothing and raise."""
        with refused_as_storage_error("the write"):
            batch = self.journal.begin(upserts, deletes)
            try:
                report = self.apply(version, upserts, deletes, batch.last)
            except BaseException:
                self._undo(version, batch)
                raise
        _settle(lambda: self.journal.commit(batch), "marking the write committed in the journal")
        return report

    def apply(self, version: Path, upserts: Sequence[Article], deletes: Sequence[str],
              journal_seq: int) -> UpdateReport:
        """Engine, then the store in one transaction (which records `journal_seq`)."""
        manifest = read_manifest(version)
        memory = WordMemory()
        indexed = [analyze_article(a, manifest["field_weights"], memory) for a in upserts]
        docs = [item.doc for item in indexed]
        store = Store(version / STORE_FILE, readonly=False)
        engine = open_engine(manifest["engine"], version / "engine")
        try:
            previous = store.articles([a.id for a in upserts] + list(deletes))
            if docs:
                engine.upsert(docs)
            if deletes:
                engine.delete(deletes)
            count = max(engine.doc_count(), 1)

            def idf(term: str) -> float:
                return math.log(1 + count / max(engine.doc_frequency(term), 1))

            with store.transaction():
                store.put_articles(indexed, lambda item: feedback.article_terms(item.term_counts(), idf))
                store.delete_articles(deletes)
                removed = [analyze_article(a, manifest["field_weights"], memory).words for a in previous.values()]
                _update_lexicon(store, removed, [item.words for item in indexed], memory.terms())
                changed = related_build.update(self.settings, store, manifest["related"], docs, deletes)
                store.set_meta({"generation": int(store.meta("generation", 0)) + 1, "journal_seq": journal_seq})
                count = store.count()
        finally:
            engine.close()
            store.close()
        _settle(lambda: write_doc_count(version, count), "updating the manifest's doc_count")
        return UpdateReport(upserted=len(upserts), deleted=len(deletes), related_updated=changed)

    def recover(self) -> int:
        """Resolve batches a failed or killed write left pending; returns how many."""
        pending = self.journal.pending()
        for batch in pending:
            try:
                version = self.layout.current_dir()
            except IndexNotFound:  # no version the batch can have reached
                self.journal.discard(batch)
                continue
            store = Store(version / STORE_FILE)
            try:
                applied = int(store.meta("journal_seq", 0)) >= batch.last
                count = store.count()
            finally:
                store.close()
            if applied:
                write_doc_count(version, count)
                self.journal.commit(batch)
                log.warning("a write interrupted after its commit (journal %d-%d) is kept", batch.first, batch.last)
            else:
                self.restore_engine(version, batch.ids)
                self.journal.discard(batch)
                log.warning("a write interrupted before its commit (journal %d-%d) was undone", batch.first, batch.last)
        return len(pending)

    def restore_engine(self, version: Path, ids: Iterable[str]) -> None:
        """Put the engine back to what the store holds for `ids`."""
        ids = list(dict.fromkeys(ids))
        manifest = read_manifest(version)
        store = Store(version / STORE_FILE)
        engine = open_engine(manifest["engine"], version / "engine")
        try:
            kept = store.articles(ids)
            if kept:
                engine.upsert([IndexDoc.from_article(a, manifest["field_weights"]) for a in kept.values()])
            gone = [i for i in ids if i not in kept]
            if gone:
                engine.delete(gone)
        finally:
            engine.close()
            store.close()

    def _undo(self, version: Path, batch: Batch) -> None:
        try:
            self.restore_engine(version, batch.ids)
            self.journal.discard(batch)
        except Exception:
            log.exception("could not undo the failed write yet (journal %d-%d): it stays pending and is undone "
                          "by the next write or build", batch.first, batch.last)


def write_doc_count(version: Path, count: int) -> None:
    manifest = read_manifest(version)
    if manifest.get("doc_count") != count:
        write_manifest(version, {**{k: v for k, v in manifest.items() if k not in ("format", "analyzer")},
                                 "doc_count": count})


def _update_lexicon(store: Store, removed: Iterable[frozenset[str]], added: Iterable[frozenset[str]],
                    term_of: Mapping[str, str]) -> None:
    """Document-frequency deltas of the words of replaced or deleted articles and new ones."""
    delta: Counter[str] = Counter()
    for words in removed:
        delta.subtract(words)
    for words in added:
        delta.update(words)
    store.add_word_counts({w: (term_of[w], d) for w, d in delta.items() if d},
                          spelling_min_df=spelling_min_df(store.count()))


@contextmanager
def refused_as_storage_error(what: str, outcome: str = "nothing was changed") -> Iterator[None]:
    """A disk that refuses `what` raises a StorageError saying so; anything else passes."""
    try:
        yield
    except Exception as exc:
        if refused_by_disk(exc):
            raise StorageError(f"the disk refused {what} ({exc}); {outcome}") from exc
        raise


def _settle(step: Callable[[], None], what: str) -> None:
    """A step after the commit point: the write has happened and is answered as such; a
    failure here is repaired by the next write or build (and `kindred check` reports it)."""
    try:
        step()
    except Exception as exc:
        log.warning("the write is committed, but %s failed (%s): the next write or build completes it", what, exc)
