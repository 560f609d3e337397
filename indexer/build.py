"""The Indexer: full builds into new versions, and incremental upserts and deletes.

A full build reads every source, analyzes each article once, writes the engine index,
the store and the related table into `versions/.build-<name>/`, renames it complete,
replays API writes that arrived meanwhile, and switches `current`. A build killed at
any point leaves `current` on the previous version; its leftovers are removed by the next.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from tqdm import tqdm

from indexer.journal import Journal
from indexer.locks import file_lock
from indexer.related import (Neighbor, RelatedModel, RelatedPolicy, near_duplicates, pairwise_similarity,
                             recency_pools)
from indexer.related_state import RelatedState
from indexer.sources import Record, Rejected, Skipped, read_paths
from indexer.sources.records import check_storable
from search import analysis
from search.article import Article
from search.config import Settings
from search.engine import IndexDoc, create_engine, open_engine
from search.store import RelatedEntry, Store
from search.versions import BUILD_PREFIX, IndexNotFound, Layout, library_versions, read_manifest, write_manifest

PROGRESS_MIN_ARTICLES = 300


class BuildError(RuntimeError):
    """A build that cannot produce a version worth serving."""


@dataclass
class BuildReport:
    version: str
    indexed: int
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class UpdateReport:
    upserted: int = 0
    deleted: int = 0
    related_updated: int = 0


def article_words(article: Article) -> set[str]:
    """Distinct non-stop surface words of an article, for the lexicon."""
    text = " ".join((article.title, article.summary, article.body, article.category, *article.tags))
    return {w for w in analysis.words(text) if w not in analysis.STOP_WORDS}


def _model_params(settings: Settings) -> dict[str, object]:
    return {"n_candidates": settings.related_k + 10, "min_df": 1, "max_df": "auto",
            "tf_saturation": settings.related_tf_saturation, "n_topics": settings.related_topics,
            "topic_weight": settings.related_topic_weight}


def spelling_min_df(doc_count: int) -> int:
    """Words rarer than this are not offered as corrections (typos in a big corpus are rare words)."""
    return max(1, doc_count // 10_000)


class Indexer:
    """Owns every write to an index directory; safe across processes through file locks."""

    def __init__(self, settings: Settings, progress: bool = False):
        self.settings = settings
        self.layout = Layout(settings.resolve(settings.index_dir))
        self.journal = Journal(self.layout.journal)
        self.progress = progress

    # Full build ------------------------------------------------------------------------

    def build(self, paths: Sequence[Path] | None = None, allow_empty: bool = False,
              on_item: Callable[[object], None] | None = None) -> BuildReport:
        paths = [Path(p) for p in paths] if paths else [self.settings.resolve(Path(p)) for p in self.settings.sources]
        if not paths and not self.journal.last_seq():
            raise BuildError("nothing to index: give PATH arguments or set `sources` in kindred.toml")
        self.layout.versions.mkdir(parents=True, exist_ok=True)
        with file_lock(self.layout.build_lock, 0, "an index build"):
            self._remove_abandoned_builds()
            name = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]
            work = self.layout.versions / f"{BUILD_PREFIX}{name}"
            try:
                report = self._build_into(work, name, paths, allow_empty, on_item)
                final = self.layout.versions / name
                os.replace(work, final)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
            with file_lock(self.layout.write_lock, self.settings.write_timeout, "an index write"):
                replay = self.journal.changes_since(report.timings.pop("journal_seq"))
                if replay:
                    self._apply(final, [a for _, a in replay if a], [i for i, a in replay if a is None])
                self.layout.switch_current(final)
            self._prune_versions()
        return report

    def _build_into(self, work: Path, name: str, paths: Sequence[Path], allow_empty: bool,
                    on_item: Callable[[object], None] | None) -> BuildReport:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        articles: dict[str, Article] = {}
        report = BuildReport(version=name, indexed=0, timings=timings)
        for item in read_paths(paths):
            if on_item is not None:
                on_item(item)
            if isinstance(item, Record):
                articles[item.article.id] = item.article
            elif isinstance(item, Rejected):
                report.rejected.append(item)
            else:
                report.skipped.append(item)
        timings["journal_seq"] = self.journal.last_seq()
        for article_id, article in self.journal.changes_since(0):
            if article is None:
                articles.pop(article_id, None)
            else:
                articles[article_id] = article
        timings["read_s"] = time.perf_counter() - started
        if not articles and not allow_empty:
            where = ", ".join(map(str, paths)) or "the journal"
            raise BuildError(
                f"no valid articles in {where} ({len(report.rejected)} rejected); the current index is left serving"
            )

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
        with file_lock(self.layout.write_lock, self.settings.write_timeout, "an index write"):
            version = self.layout.current_dir()
            self.journal.record_upserts(articles)
            return self._apply(version, articles, [])

    def delete(self, ids: Sequence[str]) -> UpdateReport:
        ids = list(dict.fromkeys(ids))
        with file_lock(self.layout.write_lock, self.settings.write_timeout, "an index write"):
            version = self.layout.current_dir()
            store = Store(version / "store.sqlite", readonly=False)
            try:
                present = [i for i in ids if store.article(i) is not None]
            finally:
                store.close()
            if not present:
                return UpdateReport()
            self.journal.record_deletes(present)
            return self._apply(version, [], present)

    def _apply(self, version: Path, upserts: Sequence[Article], deletes: Sequence[str]) -> UpdateReport:
        manifest = read_manifest(version)
        store = Store(version / "store.sqlite", readonly=False)
        try:
            previous = store.articles([a.id for a in upserts] + list(deletes))
            docs = [IndexDoc.from_article(a, manifest["field_weights"]) for a in upserts]
            # Store first: a hit the engine returns but the store lacks is skipped by readers.
            store.put_articles(upserts)
            engine = open_engine(manifest["engine"], version / "engine")
            try:
                if docs:
                    engine.upsert(docs)
                if deletes:
                    engine.delete(deletes)
            finally:
                engine.close()
            store.delete_articles(deletes)
            self._update_lexicon(store, previous.values(), upserts)
            changed = self._update_related(store, manifest, docs, deletes)
            count = store.count()
            store.set_meta({"generation": int(store.meta("generation", 0)) + 1})
        finally:
            store.close()
        write_manifest(version, {**{k: v for k, v in manifest.items() if k not in ("format", "analyzer")},
                                 "doc_count": count})
        return UpdateReport(upserted=len(upserts), deleted=len(deletes), related_updated=changed)

    @staticmethod
    def _update_lexicon(store: Store, removed: Iterable[Article], added: Iterable[Article]) -> None:
        delta: Counter[str] = Counter()
        for article in removed:
            delta.subtract(article_words(article))
        for article in added:
            delta.update(article_words(article))
        store.add_word_counts({w: (analysis.stem(w), d) for w, d in delta.items() if d},
                              spelling_min_df=spelling_min_df(store.count()))

    def _update_related(self, store: Store, manifest: Mapping[str, object], docs: Sequence[IndexDoc],
                        deletes: Sequence[str]) -> int:
        state = RelatedState(store)
        model = RelatedModel(**manifest["related"])
        changed = state.update(docs, deletes, model) - set(deletes)
        # Lists that merely showed a deleted article as a pin or a fallback change too.
        for doc_id in deletes:
            changed |= store.sources_listing(doc_id)
        changed -= set(deletes)
        if not changed:
            return 0
        candidates = state.candidates(changed)
        needed = set(changed) | {n.id for row in candidates.values() for n in row}
        policy = RelatedPolicy.from_settings(self.settings)
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
        store.put_related({
            source: policy.blend(articles[source], candidates.get(source, []), articles, pool, pairwise, copies)
            for source in changed if source in articles
        })
        return len(changed)

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
