"""Full builds, versions, the current pointer, crash safety, incremental writes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from indexer.build import BuildError, Indexer
from indexer.locks import IndexBusy, file_lock
from search.article import Article
from search.results import SearchRequest
from search.service import SearchService
from search.versions import IncompatibleIndex, Layout, read_manifest
from tests.conftest import REPO, make_settings, write_jsonl

ARTICLES = [
    {"id": "k1", "title": "Ketamine therapy", "body": "Ketamine assisted therapy for depression.", "category": "Treatment"},
    {"id": "k2", "title": "Ketamine risks", "body": "Ketamine and the bladder.", "category": "Treatment"},
    {"id": "c1", "title": "Cannabis edibles", "body": "Edibles and THC onset.", "category": "Cannabis"},
]


def ids(service: SearchService, q: str) -> list[str]:
    return [h.id for h in service.search(SearchRequest(q=q)).hits]


def test_build_writes_a_complete_version_and_switches_current(tmp_path):
    settings = make_settings(tmp_path)
    report = Indexer(settings).build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    layout = Layout(tmp_path / "index")
    assert report.indexed == 3 and layout.current_name() == report.version
    version = layout.current_dir()
    assert {p.name for p in version.iterdir()} >= {"engine", "store.sqlite", "manifest.json"}
    manifest = read_manifest(version)
    assert manifest["doc_count"] == 3 and manifest["engine"] == "whoosh"
    assert manifest["analyzer"]["filters"][-1] == "snowball-english"
    assert not list(version.rglob("*.pkl")) and not list(version.rglob("*.pickle"))


def test_a_published_store_has_its_write_ahead_log_and_no_build_journal(tmp_path):
    """A build writes its new store without a log; the version it publishes is in WAL mode,
    as readers beside an upsert need, with nothing of the build's rollback journal left."""
    settings = make_settings(tmp_path)
    Indexer(settings).build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    version = Layout(tmp_path / "index").current_dir()
    with closing(sqlite3.connect(version / "store.sqlite")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert not (version / "store.sqlite-journal").exists()


def test_rejected_records_are_counted_and_the_rest_indexed(tmp_path):
    source = tmp_path / "mixed.jsonl"
    source.write_text('{"id": "ok", "title": "Fine"}\n{"id": "bad", "title": \n{"id": "ok2", "title": "Also fine"}\n')
    report = Indexer(make_settings(tmp_path)).build([source])
    assert report.indexed == 2
    assert [str(r) for r in report.rejected] == [f"{source}:2: invalid JSON: Expecting value (column 24)"]


def test_empty_build_keeps_the_previous_version(tmp_path):
    settings = make_settings(tmp_path)
    indexer = Indexer(settings)
    first = indexer.build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    (tmp_path / "empty.jsonl").write_text('{"broken"\n')
    with pytest.raises(BuildError, match="current index is left serving"):
        indexer.build([tmp_path / "empty.jsonl"])
    assert indexer.layout.current_name() == first.version


def test_previous_version_stays_until_the_next_build(tmp_path):
    settings = make_settings(tmp_path)
    indexer = Indexer(settings)
    source = write_jsonl(tmp_path / "a.jsonl", ARTICLES)
    versions = [indexer.build([source]).version for _ in range(3)]
    assert [p.name for p in indexer.layout.complete_versions()] == versions[1:]


def test_service_follows_the_current_pointer(tmp_path):
    settings = make_settings(tmp_path)
    indexer = Indexer(settings)
    indexer.build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    service = SearchService(settings)
    assert ids(service, "edibles") == ["c1"]
    indexer.build([write_jsonl(tmp_path / "b.jsonl", [{"id": "n1", "title": "Naloxone and edibles"}])])
    assert ids(service, "edibles") == ["n1"]
    service.close()


def test_incompatible_version_is_refused(tmp_path):
    settings = make_settings(tmp_path)
    Indexer(settings).build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    version = Layout(tmp_path / "index").current_dir()
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["analyzer"]["version"] = -1
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IncompatibleIndex, match="different analyzer"):
        SearchService(settings).search(SearchRequest(q="ketamine"))


def test_upsert_and_delete_without_rebuild(tmp_path):
    settings = make_settings(tmp_path)
    indexer = Indexer(settings)
    indexer.build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    version = indexer.layout.current_name()
    service = SearchService(settings)
    indexer.upsert([Article(id="k3", title="Ketamine infusions", body="Ketamine infusion clinics and depression.",
                            category="Treatment")])
    assert "k3" in ids(service, "infusions")
    assert "k3" in [i.id for i in service.related("k1")]
    indexer.delete(["k3"])
    assert ids(service, "infusions") == []
    assert "k3" not in [i.id for i in service.related("k1")]
    assert indexer.layout.current_name() == version
    service.close()


def test_api_writes_survive_a_full_rebuild(tmp_path):
    settings = make_settings(tmp_path)
    indexer = Indexer(settings)
    source = write_jsonl(tmp_path / "a.jsonl", ARTICLES)
    indexer.build([source])
    indexer.upsert([Article(id="api1", title="Added through the API about naloxone")])
    indexer.delete(["c1"])
    indexer.build([source])
    service = SearchService(settings)
    assert ids(service, "naloxone") == ["api1"]
    assert ids(service, "edibles") == []
    service.close()


def test_writers_wait_then_fail_with_a_clear_error(tmp_path):
    settings = make_settings(tmp_path, write_timeout=0.2)
    indexer = Indexer(settings)
    indexer.build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    with file_lock(indexer.layout.write_lock, 0, "test"):
        with pytest.raises(IndexBusy, match="an index write is already in progress"):
            indexer.upsert([Article(id="x", title="x")])


def _corpus(path: Path, n: int) -> Path:
    words = "ketamine cannabis naloxone recovery alcohol therapy relapse opioid edibles harm".split()
    return write_jsonl(path, [
        {"id": f"d{i}", "title": f"Article {i} {words[i % 10]}",
         "body": " ".join(words[(i * j) % 10] + str(j % 50) for j in range(300))}
        for i in range(n)
    ])


def test_killed_build_leaves_the_previous_version_serving(tmp_path):
    settings = make_settings(tmp_path)
    first = Indexer(settings).build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    big = _corpus(tmp_path / "big.jsonl", 3000)
    env = {**os.environ, "KINDRED_INDEX_DIR": str(tmp_path / "index")}
    proc = subprocess.Popen([sys.executable, "-m", "kindred", "index", str(big), "--quiet"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    versions = tmp_path / "index" / "versions"
    deadline = time.monotonic() + 60
    while not list(versions.glob(".build-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the build
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(versions.glob(".build-*")), "the build should have been killed midway"
    layout = Layout(tmp_path / "index")
    assert layout.current_name() == first.version
    service = SearchService(settings)
    assert ids(service, "edibles") == ["c1"]
    service.close()
    # The next build cleans up the leftovers and succeeds.
    second = Indexer(settings).build([write_jsonl(tmp_path / "b.jsonl", ARTICLES)])
    assert layout.current_name() == second.version
    assert not list(versions.glob(".build-*"))


def test_index_the_real_sample_site(sample_settings):
    manifest = read_manifest(Layout(sample_settings.index_dir).current_dir())
    assert manifest["doc_count"] >= 48
    assert Path(manifest["sources"][0]) == (REPO / "data" / "sample").resolve()


FILLER = ["alcohol hangover sleep", "cannabis edibles onset", "nicotine vaping lungs", "opioid naloxone overdose",
          "caffeine coffee heart", "mdma molly festival heat", "alcohol liver drinking", "cannabis harvest trichomes"]
NEAR_COPIES = [
    {"id": "src", "title": "Ketamine infusion therapy", "body": "ketamine infusion therapy depression clinic dose session"},
    {"id": "a", "title": "Ketamine infusion clinics", "body": "ketamine infusion therapy depression clinic anesthesia monitoring"},
    {"id": "a-copy", "title": "Ketamine infusion clinics again",  # close to a (0.76), not a duplicate (0.9)
     "body": "ketamine infusion therapy depression clinic anesthesia nurse staff"},
    {"id": "b", "title": "Depression dose sessions", "body": "ketamine depression dose session psilocybin trial"},
] + [{"id": f"f{i}", "title": text.title(), "body": f"{text} {text}"} for i, text in enumerate(FILLER)]


@pytest.mark.parametrize("diversity, expected", [(0.0, ["a", "a-copy", "b"]), (0.9, ["a", "b", "a-copy"])])
def test_upserted_articles_get_lists_as_diverse_as_a_build_gives(tmp_path, diversity, expected):
    settings = make_settings(tmp_path, related_diversity=diversity, related_fallback=[])
    indexer = Indexer(settings)
    indexer.build([write_jsonl(tmp_path / "a.jsonl", NEAR_COPIES)])
    service = SearchService(settings)
    assert [i.id for i in service.related("src", 3)] == expected  # the full build
    indexer.upsert([Article(id="src2", title="Ketamine infusion therapy, updated",
                            body=NEAR_COPIES[0]["body"] + " ketamine")])
    # src2 repeats src (a near-duplicate, left out); a-copy repeats a, so diversity moves it down.
    assert [i.id for i in service.related("src2", 3)] == expected
    service.close()


def test_spelling_learns_words_from_upserts(tmp_path):
    settings = make_settings(tmp_path)
    indexer = Indexer(settings)
    indexer.build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)])
    service = SearchService(settings)
    before = service.search(SearchRequest(q="kratoom"))
    assert before.total == 0 and before.corrected is None
    indexer.upsert([Article(id="kr", title="Kratom", body="Kratom is a plant; kratom leaves are brewed.")])
    after = service.search(SearchRequest(q="kratoom"))
    assert after.corrected == "kratom" and [h.id for h in after.hits] == ["kr"]
    service.close()
