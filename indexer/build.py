"""The Indexer: full builds into new versions, and incremental upserts and deletes.

A full build reads every source, analyzes each article once, writes the engine index,
the store and the related table into `versions/.build-<name>/`, replays API writes that
arrived meanwhile, renames it complete and switches `current`. A build killed at any
point leaves `current` on the previous version; its leftovers are removed by the next.
Incremental writes go through indexer/writes.py, atomic across journal, engine and store.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
import uuid
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from tqdm import tqdm

from indexer.journal import Journal
from indexer import related_build
from search.write_errors import BuildError
from indexer.lexicon import feedback_material, spelling_min_df, surface_words
from indexer.locks import file_lock
from indexer.sources import Record, Rejected, Skipped, read_paths
from indexer.sources.records import check_storable
from indexer.writes import UpdateReport, VersionWriter, refused_as_storage_error
from search.analysis import WordMemory
from search.article import Article
from search.config import Settings
from search.document import analyze_article
from search.engines import create_engine
from search.store import STORE_FILE, Store
from search.versions import BUILD_PREFIX, IndexNotFound, Layout, library_versions, read_manifest, write_manifest

PROGRESS_MIN_ARTICLES = 300
# A report lists this many rejected records and counts the rest (a hostile file can make millions).
MAX_KEPT_REJECTIONS = 1_000


@dataclass
class BuildReport:
    version: str
    indexed: int
    rejected: list[Rejected] = field(default_factory=list)  # the first MAX_KEPT_REJECTIONS
    rejected_count: int = 0
    skipped_count: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    related_timings: dict[str, float] = field(default_factory=dict)  # the related step's parts

    def add(self, item: Rejected | Skipped) -> None:
        if isinstance(item, Rejected):
            self.rejected_count += 1
            if len(self.rejected) < MAX_KEPT_REJECTIONS:
                self.rejected.append(item)
        else:
            self.skipped_count += 1


class Indexer:
    """Owns every write to an index directory; safe across processes through file locks."""

    def __init__(self, settings: Settings, progress: bool = False):
        self.settings = settings
        self.layout = Layout(settings.resolve(settings.index_dir))
        self.journal = Journal(self.layout.journal)
        self.writer = VersionWriter(settings, self.layout, self.journal)
        self.progress = progress

    def _write_lock(self) -> AbstractContextManager:
        return file_lock(self.layout.write_lock, self.settings.write_timeout, "an index write")

    def recover(self) -> int:
        """Resolve writes a failure or a kill left pending (see indexer/writes.py); returns
        how many. Every write and build does this first."""
        with self._write_lock(), refused_as_storage_error("resolving an interrupted write"):
            return self.writer.recover()

    # Full build ------------------------------------------------------------------------

    def build(self, paths: Sequence[Path] | None = None, allow_empty: bool = False,
              on_item: Callable[[object], None] | None = None) -> BuildReport:
        paths = [Path(p) for p in paths] if paths else [self.settings.resolve(Path(p)) for p in self.settings.sources]
        if not paths and not self.journal.last_seq():
            raise BuildError("nothing to index: give PATH arguments or set `sources` in kindred.toml")
        self.layout.versions.mkdir(parents=True, exist_ok=True)
        with file_lock(self.layout.build_lock, 0, "an index build"):
            self._remove_abandoned_builds()
            with self._write_lock(), refused_as_storage_error("resolving an interrupted write"):
                self.writer.recover()
                journal_seq = self.journal.last_seq()  # the build takes committed changes up to here
            name = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]
            work = self.layout.versions / f"{BUILD_PREFIX}{name}"
            try:
                with refused_as_storage_error("the build", "nothing was published, the current index is left serving"):
                    report = self._build_into(work, name, paths, allow_empty, on_item, journal_seq)
                    with self._write_lock():
                        self.writer.recover()
                        replay = self.journal.changes(after=journal_seq)
                        if replay:  # API writes that arrived during the build
                            self.writer.apply(work, [a for _, _, a in replay if a],
                                              [i for _, i, a in replay if a is None], replay[-1][0])
                        final = self.layout.versions / name
                        os.replace(work, final)
                        self.layout.switch_current(final)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
            self._prune_versions()
        return report

    def _build_into(self, work: Path, name: str, paths: Sequence[Path], allow_empty: bool,
                    on_item: Callable[[object], None] | None, journal_seq: int) -> BuildReport:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        articles: dict[str, Article] = {}
        report = BuildReport(version=name, indexed=0, timings=timings)
        for item in read_paths(paths, self.settings):
            if on_item is not None:
                on_item(item)
            if isinstance(item, Record):
                articles[item.article.id] = item.article
            else:
                report.add(item)
        for _, article_id, article in self.journal.changes(upto=journal_seq):
            if article is None:
                articles.pop(article_id, None)
            else:
                articles[article_id] = article
        timings["read_s"] = time.perf_counter() - started
        if not articles and not allow_empty:
            where = ", ".join(map(str, paths)) or "the journal"
            outcome = "the current index is left serving" if self.layout.current_name() else "no index was published"
            raise BuildError(f"no valid articles in {where} ({report.rejected_count} rejected); {outcome}")

        started = time.perf_counter()
        weights = self.settings.field_weights
        memory = WordMemory()
        indexed = [analyze_article(a, weights, memory)
                   for a in self._progress(articles.values(), "analyzing", len(articles))]
        docs = [item.doc for item in indexed]
        timings["analyze_s"] = time.perf_counter() - started

        started = time.perf_counter()
        work.mkdir(parents=True)
        engine = create_engine(self.settings.engine, work / "engine")
        try:
            engine.add(self._progress(docs, f"indexing ({self.settings.engine})", len(docs)))
        finally:
            engine.close()
        timings["engine_s"] = time.perf_counter() - started

        started = time.perf_counter()
        store = Store.create(work)
        words = Counter(word for item in indexed for word in item.words)
        term_of = memory.terms()
        with store.transaction():
            store.set_meta({"journal_seq": journal_seq})
            store.put_articles(indexed, feedback_material(indexed), fresh=True)
            store.bulk_load_lexicon(((w, term_of[w], df) for w, df in words.items()), spelling_min_df(len(articles)))
        timings["store_s"] = time.perf_counter() - started

        started = time.perf_counter()
        report.related_timings = related_build.build(self.settings, store, list(articles.values()), docs,
                                                     surface_words(words, term_of))
        timings["related_s"] = time.perf_counter() - started
        store.finish()

        report.indexed = len(articles)
        write_manifest(work, {
            "version": name,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "engine": self.settings.engine,
            "doc_count": len(articles),
            "field_weights": weights,
            "sources": [str(p.resolve()) for p in paths],
            "related": related_build.model_params(self.settings),
            "libraries": library_versions(),
            "timings": {k: round(v, 3) for k, v in timings.items() if k.endswith("_s")},
        })
        return report

    def reindex(self) -> BuildReport:
        """Full rebuild, related refit included, from the sources the current version was
        built from (falling back to the `sources` setting), plus the journal."""
        try:
            sources = read_manifest(self.layout.current_dir()).get("sources", [])
        except IndexNotFound:
            sources = []
        return self.build([Path(s) for s in sources if Path(s).exists()])

    # Incremental -----------------------------------------------------------------------

    def upsert(self, articles: Sequence[Article]) -> UpdateReport:
        articles = list({a.id: a for a in articles}.values())
        check_storable(articles)  # InvalidArticle before anything is written
        with self._write_lock():
            with refused_as_storage_error("resolving an interrupted write"):
                self.writer.recover()
            return self.writer.write(self.layout.current_dir(), articles, [])

    def delete(self, ids: Sequence[str]) -> UpdateReport:
        ids = list(dict.fromkeys(ids))
        with self._write_lock():
            with refused_as_storage_error("resolving an interrupted write"):
                self.writer.recover()
            version = self.layout.current_dir()
            store = Store(version / STORE_FILE)
            try:
                present = [i for i in ids if store.article(i) is not None]
            finally:
                store.close()
            if not present:
                return UpdateReport()
            return self.writer.write(version, [], present)

    # Housekeeping -----------------------------------------------------------------------

    def _remove_abandoned_builds(self) -> None:
        """Builds that died (killed, crashed) left their work dirs; we hold the build lock."""
        for path in self.layout.versions.glob(f"{BUILD_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)
        for path in self.layout.root.glob(".current-*"):
            path.unlink(missing_ok=True)

    def _prune_versions(self) -> None:
        current = self.layout.current_name()
        versions = [v for v in self.layout.complete_versions() if v.name != current]
        for old in versions[: max(0, len(versions) - (self.settings.keep_versions - 1))]:
            shutil.rmtree(old, ignore_errors=True)

    def _progress(self, items: Iterable, label: str, total: int) -> Iterable:
        if not self.progress or total < PROGRESS_MIN_ARTICLES:
            return items
        return tqdm(items, desc=label, total=total, unit="doc", file=sys.stderr, leave=False)
