"""Atomic writes (issue 14 item 4 and acceptance 3; issue 15 item 3): an upsert is in the
journal, the engine and the store entirely or not at all. Measured on main: on a nearly full
disk five 50-article upserts all answered 500, yet the journal kept 150 of them, the store
55 and the engine 5, and the next `kindred index` published all 155; a SIGKILL mid-upsert
left a batch searchable without related lists and a stale manifest count.

Real parts: a full disk is a child process whose files may not grow past a limit
(RLIMIT_FSIZE: writes fail with EFBIG, no privilege needed), a kill is a real SIGKILL, and
`kindred check` (run through click) is the judge."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.build import Indexer
from indexer.journal import Journal
from kindred.cli import main
from search.article import Article
from search.config import Settings
from search.engines import open_engine
from search.store import STORE_FILE, Store
from search.versions import Layout, read_manifest
from tests.reliability.harness import (
    SAMPLE, child_api, child_upsert, child_watch_store, fork_context, reliability_settings, synthetic_articles,
    token_for,
)
from web.editors import Editors

# No file may grow past these (bytes): small ones stop the journal, larger ones the store's
# transaction after the engine has committed, the largest let the write through.
FILE_SIZE_LIMITS = (16_384, 262_144, 1_048_576, 8_388_608)


def _batch(prefix: str, count: int, seed: int) -> list[dict]:
    """Synthetic articles, each findable by a made-up word of its own."""
    records = synthetic_articles(count, seed=seed, prefix=prefix)
    for n, record in enumerate(records):
        record["body"] += f" {token_for(seed * 1000 + n)}"
    return records


def _copy(base: Path, to: Path, engine: str) -> Settings:
    shutil.copytree(base, to, symlinks=True)
    settings = reliability_settings(to, engine=engine)
    # The editors' file exists before the disk fills: checking the admin token only reads it.
    Editors(settings.resolve(settings.admin_db)).recent_failures("127.0.0.1")
    return settings


def kindred_check(settings: Settings, *args: str):
    return CliRunner().invoke(main, ["check", "--index-dir", str(settings.index_dir), *args])


def _where(settings: Settings, records: list[dict]) -> dict[str, int]:
    """How many of `records` the store, the engine, the journal and search each hold."""
    layout = Layout(settings.resolve(settings.index_dir))
    version = layout.current_dir()
    ids = {r["id"] for r in records}
    store = Store(version / STORE_FILE)
    engine = open_engine(read_manifest(version)["engine"], version / "engine")
    try:
        return {
            "store": len(store.articles(ids)),
            "engine": len(engine.ids() & ids),
            "journal": len({i for _, i, _ in Journal(layout.journal).changes()} & ids),
            "pending": sum(len(set(b.ids) & ids) for b in Journal(layout.journal).pending()),
            "related": sum(store.related(i) is not None for i in ids),
        }
    finally:
        engine.close()
        store.close()


def _all_or_nothing(where: dict[str, int], count: int) -> int:
    """The batch is wholly present (returns count) or wholly absent (0), never pending."""
    assert where["pending"] == 0, where
    present = {where[k] for k in ("store", "engine", "journal", "related")}
    assert present in ({0}, {count}), where
    return present.pop()


@pytest.fixture(scope="module", params=["whoosh", "tantivy"])
def sample(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"atomic-{request.param}")
    settings = reliability_settings(root, engine=request.param)
    Indexer(settings).build([SAMPLE])
    return root, request.param


@pytest.mark.slow
def test_an_upsert_the_disk_refuses_answers_507_and_never_appears(sample, tmp_path):
    root, engine = sample
    ctx = fork_context()
    outcomes = []
    for limit in FILE_SIZE_LIMITS:
        settings = _copy(root, tmp_path / str(limit), engine)
        records = _batch(f"full{limit}", 50, seed=limit % 97)
        results = ctx.Queue()
        child = ctx.Process(target=child_api, args=(settings, "POST", "/api/v1/articles", records, results, limit))
        child.start()
        status, body = results.get(timeout=300)
        child.join(timeout=60)
        assert status in (200, 507), (limit, status, body)
        if status == 507:
            assert '"insufficient_storage"' in body and "nothing was changed" in body, body
        outcomes.append(status)
        # Whatever the child could not undo on its full disk, recovery does; then all agree.
        repaired = kindred_check(settings, "--repair")
        assert repaired.exit_code == 0, repaired.output
        present = _all_or_nothing(_where(settings, records), 50)
        assert present == (50 if status == 200 else 0), (limit, status)
        if status == 507 and limit == FILE_SIZE_LIMITS[1]:
            # The next full build replays the journal: the refused upsert stays out.
            Indexer(settings).build([SAMPLE])
            assert _all_or_nothing(_where(settings, records), 50) == 0
            assert kindred_check(settings).exit_code == 0
    assert outcomes == [507, 507, 507, 200], outcomes


def _engine_committed(version: Path, engine: str, before: set[str]) -> bool:
    """Whether the engine has committed since `before` was listed (a new Whoosh TOC; a new
    tantivy segment list)."""
    return _engine_files(version, engine) != before


def _engine_files(version: Path, engine: str) -> set[str]:
    directory = version / "engine"
    if engine == "whoosh":
        return {p.name for p in directory.glob("*.toc")}
    return {str(os.stat(directory / "meta.json").st_mtime_ns)}


@pytest.mark.slow
def test_an_upsert_killed_at_any_moment_is_there_entirely_or_not_at_all(sample, tmp_path):
    """SIGKILL right after the engine's commit (the store not yet committed), and at a few
    other moments: `kindred check` names the interrupted write, the next write resolves
    it, and then everything agrees, also after a full rebuild."""
    root, engine = sample
    ctx = fork_context()
    kills = ["engine committed", 1.0]
    for round_, when in enumerate(kills):
        settings = _copy(root, tmp_path / f"kill{round_}", engine)
        version = Layout(settings.resolve(settings.index_dir)).current_dir()
        records = _batch(f"kill{round_}", 500, seed=round_ + 1)
        before = _engine_files(version, engine)
        results = ctx.Queue()
        child = ctx.Process(target=child_upsert, args=(settings, records, results))
        child.start()
        deadline = time.monotonic() + 120
        if when == "engine committed":
            while not _engine_committed(version, engine, before) and child.is_alive():
                assert time.monotonic() < deadline, "the engine never committed"
                time.sleep(0.001)
        else:
            time.sleep(when)
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=60)
        if when == "engine committed":
            assert child.exitcode == -signal.SIGKILL  # killed between the engine and the store
            checked = kindred_check(settings)
            assert checked.exit_code == 1 and "was interrupted" in checked.output, checked.output
        # The next write resolves what the kill left, then applies itself.
        follow_up = _batch(f"after{round_}", 2, seed=50 + round_)
        Indexer(settings).upsert([Article.from_mapping(r) for r in follow_up])
        assert kindred_check(settings).exit_code == 0, kindred_check(settings).output
        present = _all_or_nothing(_where(settings, records), 500)
        if when == "engine committed":
            assert present == 0
        assert _all_or_nothing(_where(settings, follow_up), 2) == 2
        if round_ == 0:
            Indexer(settings).build([SAMPLE])
            assert _all_or_nothing(_where(settings, records), 500) == present
            assert kindred_check(settings).exit_code == 0


def test_a_build_replays_committed_writes_only(sample, tmp_path):
    """A batch journaled but never applied (its process died first) is not published by
    the next build, and the journal is left clean."""
    root, engine = sample
    settings = _copy(root, tmp_path / "pending", engine)
    records = _batch("pending", 3, seed=77)
    Journal(Layout(settings.resolve(settings.index_dir)).journal).begin([Article.from_mapping(r) for r in records])
    checked = kindred_check(settings)
    assert checked.exit_code == 1 and "3 articles" in checked.output and "interrupted" in checked.output
    Indexer(settings).build([SAMPLE])
    assert _all_or_nothing(_where(settings, records), 3) == 0
    assert kindred_check(settings).exit_code == 0


def test_check_names_each_disagreement(sample, tmp_path):
    root, engine = sample
    settings = _copy(root, tmp_path / "broken", engine)
    version = Layout(settings.resolve(settings.index_dir)).current_dir()
    engine_index = open_engine(read_manifest(version)["engine"], version / "engine")
    try:
        engine_index.delete(["cbd-vs-thc"])  # as if a write had reached the store only
    finally:
        engine_index.close()
    manifest = read_manifest(version)
    (version / "manifest.json").write_text((version / "manifest.json").read_text().replace(
        f'"doc_count": {manifest["doc_count"]}', f'"doc_count": {manifest["doc_count"] + 7}'))
    result = kindred_check(settings)
    assert result.exit_code == 1
    assert "engine: lacks 1 articles of the store: 'cbd-vs-thc'" in result.output
    assert f"doc_count is {manifest['doc_count'] + 7}" in result.output
    assert "2 problems" in result.output


def test_a_reader_never_sees_half_an_upsert(sample, tmp_path):
    """An upsert used to commit six times (articles, lexicon, related vectors, lists,
    generation): a reader in another process saw articles without their related lists or
    their words. Now it is one store transaction."""
    root, engine = sample
    settings = _copy(root, tmp_path / "reader", engine)
    batches = [_batch(f"half{n}", 3, seed=200 + n) for n in range(6)]
    records = [r for b in batches for r in b]
    words = {r["id"]: r["body"].split()[-1] for r in records}
    ctx = fork_context()
    stop, results = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=child_watch_store, args=(settings, records, words, stop, results))
    reader.start()
    indexer = Indexer(settings)
    for batch in batches:
        indexer.upsert([Article.from_mapping(r) for r in batch])
    stop.set()
    polls, problems = results.get(timeout=120)
    reader.join(timeout=60)
    assert problems == []
    assert polls > len(batches)  # it did read while the writes went on
