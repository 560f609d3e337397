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
from typing import Callable, Iterable, Mapping, Sequence

from tqdm import tqdm

from indexer.journal import Journal
from indexer.lexicon import article_words, spelling_min_df
from indexer.locks import file_lock
from indexer.related import (Neighbor, RelatedModel, RelatedPolicy, near_duplicates, pairwise_similarity,
                             recency_pools)
from indexer.related_state import RelatedState
from indexer.sources import Record, Rejected, Skipped, read_paths
from indexer.sources.records import check_storable
from indexer.writes import UpdateReport, VersionWriter, refused_as_storage_error
from search import analysis
from search.article import Article
from search.config import Settings
from search.engine import IndexDoc, create_engine
from search.store import STORE_FILE, RelatedEntry, Store
from search.versions import BUILD_PREFIX, IndexNotFound, Layout, library_versions, read_manifest, write_manifest

PROGRESS_MIN_ARTICLES = 300
# A report lists this many rejected records and counts the rest (a hostile file can make millions).
MAX_KEPT_REJECTIONS = 1_000


class BuildError(RuntimeError):
    """A build that cannot produce a version worth serving."""


@dataclass
class BuildReport:
    version: str
    indexed: int
    rejected: list[Rejected] = field(default_factory=list)  # the first MAX_KEPT_REJECTIONS
    rejected_count: int = 0
    skipped_count: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def add(self, item: Rejected | Skipped) -> None:
        if isinstance(item, Rejected):
            self.rejected_count += 1
            if len(self.rejected) < MAX_KEPT_REJECTIONS:
                self.rejected.append(item)
        else:
            self.skipped_count += 1


def _model_params(settings: Settings) -> dict[str, object]:
    return {"n_candidates": settings.related_k + 10, "min_df": 1, "max_df": "auto",
            "tf_saturation": settings.related_tf_saturation, "n_topics": settings.related_topics,
            "topic_weight": settings.related_topic_weight}


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
        docs = [IndexDoc.from_article(a, weights) for a in self._progress(articles.values(), "analyzing", len(articles))]
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
        store.set_meta({"journal_seq": journal_seq})
        store.put_articles(articles.values())
        words = Counter(w for a in articles.values() for w in article_words(a))
        store.bulk_load_lexicon(((w, analysis.stem(w), df) for w, df in words.items()),
                                spelling_min_df(len(articles)))
        timings["store_s"] = time.perf_counter() - started

        started = time.perf_counter()
        params = _model_params(self.settings)
        self._fit_related(store, docs, articles, words, params)
        timings["related_s"] = time.perf_counter() - started
        store.close()

        report.indexed = len(articles)
        write_manifest(work, {
            "version": name,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "engine": self.settings.engine,
            "doc_count": len(articles),
            "field_weights": weights,
            "sources": [str(p.resolve()) for p in paths],
            "related": params,
            "libraries": library_versions(),
            "timings": {k: round(v, 3) for k, v in timings.items() if k.endswith("_s")},
        })
        return report

    def _fit_related(self, store: Store, docs: list[IndexDoc], articles: Mapping[str, Article],
                     words: Mapping[str, int], params: Mapping[str, object]) -> None:
        if not docs:
            return
        surface_of = _surface_words(words)
        lists, _, model, candidates = _related(self.settings, list(articles.values()), docs, params, surface_of)
        RelatedState(store).save_model(model, surface_of, candidates)
        store.put_related(lists)

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


def _related(settings: Settings, articles: Sequence[Article], docs: Sequence[IndexDoc],
             params: Mapping[str, object], surface_of: Mapping[str, str]):
    """Fit, find neighbours, blend: (lists, timings, model, candidates)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    model = RelatedModel(**params).fit(docs)
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
    return lists, timings, model, candidates


def related_lists(settings: Settings, articles: Sequence[Article],
                  docs: Sequence[IndexDoc]) -> tuple[dict[str, list[RelatedEntry]], dict[str, float]]:
    """The related lists for articles already analyzed (for evaluation: no index is written)."""
    lists, timings, _, _ = _related(settings, articles, docs, _model_params(settings), {})
    return lists, timings


def _surface_words(words: Mapping[str, int]) -> dict[str, str]:
    """For each stem, its most common surface word: explanations show words as written."""
    best: dict[str, tuple[int, str]] = {}
    for word, df in words.items():
        term = analysis.stem(word)
        if term not in best or (df, word) > best[term]:
            best[term] = (df, word)
    return {term: word for term, (_, word) in best.items()}
