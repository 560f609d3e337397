"""Concurrent writers: two upserts at once, from two processes and from two threads, never
corrupt the index. Either both succeed (the second waits on the write lock) or one gets
the clear IndexBusy error (HTTP 409 JSON through the API), never an engine lock error.
Afterwards every article is searchable and the related lists are consistent. Both engines."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from indexer.build import Indexer
from indexer.journal import Journal
from indexer.locks import file_lock
from search.article import Article
from search.results import SearchRequest
from search.service import SearchService
from search.versions import Layout
from tests.reliability.harness import (
    ADMIN_TOKEN, child_write, fork_context, index_problems, reliability_settings, synthetic_articles, token_for,
    write_jsonl,
)
from web.app import create_app


def batch(prefix: str, start: int, n: int = 4) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "title": f"{prefix} note {token_for(start + i)}",
             "body": f"{token_for(start + i)} ketamine recovery support naloxone sleep therapy",
             "category": "Treatment", "tags": ["concurrency"]} for i in range(n)]


def _index(tmp_path, engine: str):
    settings = reliability_settings(tmp_path, engine=engine, write_timeout=60)
    Indexer(settings).build([write_jsonl(tmp_path / "base.jsonl", synthetic_articles(12, seed=3))])
    return settings


@pytest.fixture(params=["whoosh", "tantivy"])
def index(request, tmp_path):
    """A small index, for each engine (each engine has its own writer lock under ours)."""
    return _index(tmp_path, request.param)


@pytest.fixture
def whoosh_index(tmp_path):
    return _index(tmp_path, "whoosh")


def run_writers(settings, jobs: list[tuple[str, list]], barrier: bool = True) -> list[tuple]:
    ctx = fork_context()
    results = ctx.Queue()
    gate = ctx.Barrier(len(jobs)) if barrier else None
    procs = [ctx.Process(target=child_write, args=(settings, kind, payload, gate, results)) for kind, payload in jobs]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return outcomes


def assert_searchable(settings, articles: list[dict], absent: list[dict] = ()) -> None:
    service = SearchService(settings)
    try:
        for article in articles:
            word = article["body"].split()[0]
            hits = [h.id for h in service.search(SearchRequest(q=word, exact=True)).hits]
            assert article["id"] in hits, (article["id"], word, hits)
            related = service.related(article["id"])
            assert related is not None and all(item.id != article["id"] for item in related)
        for article in absent:
            assert service.article(article["id"]) is None
    finally:
        service.close()
    assert index_problems(settings) == []


def test_two_processes_upserting_at_once_both_succeed(index):
    a, b = batch("proc-a", 0), batch("proc-b", 100)
    outcomes = run_writers(index, [("upsert", a), ("upsert", b)])
    assert [o[1] for o in outcomes] == ["ok", "ok"], outcomes
    assert_searchable(index, a + b)


def test_a_second_writer_waits_for_the_lock_then_succeeds(whoosh_index):
    """While this test holds the write lock, both writers are blocked inside the lock wait
    (each has write.lock open and has not finished); released, both complete."""
    index = whoosh_index
    layout = Layout(index.resolve(index.index_dir))
    a, b = batch("wait-a", 200), batch("wait-b", 300)
    ctx = fork_context()
    results = ctx.Queue()
    with file_lock(layout.write_lock, 0, "the test"):
        procs = [ctx.Process(target=child_write, args=(index, "upsert", p, None, results)) for p in (a, b)]
        for p in procs:
            p.start()
        deadline = time.monotonic() + 120
        while not all(_has_open(p.pid, layout.write_lock) for p in procs):
            assert time.monotonic() < deadline, "the writers never reached the write lock"
            assert all(p.is_alive() for p in procs), "a writer finished while the lock was held"
            time.sleep(0.01)
        assert all(p.is_alive() for p in procs) and results.empty()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [o[1] for o in outcomes] == ["ok", "ok"], outcomes
    assert_searchable(index, a + b)


def _has_open(pid: int, path: Path) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


def test_writers_that_cannot_wait_get_index_busy_and_change_nothing(whoosh_index):
    settings = whoosh_index.replace(write_timeout=0.3)
    layout = Layout(settings.resolve(settings.index_dir))
    journal = Journal(layout.journal)
    seq, docs = journal.last_seq(), _doc_count(settings)
    a = batch("busy-a", 400)
    with file_lock(layout.write_lock, 0, "the test"):
        outcomes = run_writers(settings, [("upsert", a), ("delete", ["syn-1", "syn-2"])])
    assert [o[1] for o in outcomes] == ["IndexBusy", "IndexBusy"], outcomes
    for _, _, message, _ in outcomes:
        assert message.startswith(f"an index write is already in progress (pid {os.getpid()}) after waiting 0.3s")
    assert journal.last_seq() == seq and _doc_count(settings) == docs
    assert_searchable(settings, [], absent=a)


def _doc_count(settings) -> int:
    service = SearchService(settings)
    try:
        return service.health()["doc_count"]
    finally:
        service.close()


def test_racing_writers_without_patience_succeed_or_get_index_busy(index):
    """write_timeout=0: whoever loses the race gets IndexBusy; what it sent is not half-written."""
    settings = index.replace(write_timeout=0)
    written, refused = [], []
    for round_ in range(3):
        a, b = batch(f"race{round_}-a", 600 + 20 * round_), batch(f"race{round_}-b", 610 + 20 * round_)
        outcomes = run_writers(settings, [("upsert", a), ("upsert", b)])
        kinds = {o[1] for o in outcomes}
        assert kinds <= {"ok", "IndexBusy"} and "ok" in kinds, outcomes
        service = SearchService(settings)
        try:
            landed = 0
            for payload in (a, b):
                present = [service.article(x["id"]) is not None for x in payload]
                assert all(present) or not any(present), "a batch was half written"
                (written if all(present) else refused).extend(payload)
                landed += all(present)
        finally:
            service.close()
        assert landed == sum(1 for o in outcomes if o[1] == "ok"), outcomes
    journal_ids = {i for _, i, _ in Journal(Layout(settings.resolve(settings.index_dir)).journal).changes()}
    assert {x["id"] for x in written} <= journal_ids and not ({x["id"] for x in refused} & journal_ids)
    assert_searchable(settings, written, absent=refused)


def test_upserts_and_deletes_from_two_processes(whoosh_index):
    new = batch("mix", 700)
    outcomes = run_writers(whoosh_index, [("upsert", new), ("delete", ["syn-0", "syn-5", "syn-7"])])
    assert [o[1] for o in outcomes] == ["ok", "ok"], outcomes
    gone = [{"id": f"syn-{i}"} for i in (0, 5, 7)]
    assert_searchable(whoosh_index, new, absent=gone)


def test_two_threads_upserting_at_once_both_succeed(whoosh_index):
    a, b = batch("thread-a", 800), batch("thread-b", 900)
    indexer = Indexer(whoosh_index)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(payload):
        barrier.wait()
        try:
            indexer.upsert([Article.from_mapping(x) for x in payload])
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_searchable(whoosh_index, a + b)


def test_api_upserts_from_two_threads_and_a_busy_index_answer_409_json(tmp_path):
    settings = reliability_settings(tmp_path, write_timeout=0.2)
    Indexer(settings).build([write_jsonl(tmp_path / "base.jsonl", synthetic_articles(12, seed=3))])
    app = create_app(settings)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    a, b = batch("api-a", 1000), batch("api-b", 1100)
    statuses = []
    barrier = threading.Barrier(2)

    def post(payload):
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/api/v1/articles", json=payload, headers=auth).status_code)

    threads = [threading.Thread(target=post, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # With a 0.2 s patience the loser may be refused; either way, the answer is 200 or 409.
    assert sorted(statuses) in ([200, 200], [200, 409]), statuses
    layout = Layout(settings.resolve(settings.index_dir))
    with file_lock(layout.write_lock, 0, "the test"):
        response = app.test_client().post("/api/v1/articles", json=batch("api-c", 1200), headers=auth)
        deleted = app.test_client().delete("/api/v1/articles/syn-1", headers=auth)
    for refused in (response, deleted):
        assert refused.status_code == 409 and refused.is_json
        error = refused.get_json()["error"]
        assert error["code"] == "busy" and "an index write is already in progress" in error["message"]
        assert "Traceback" not in refused.get_data(as_text=True)
    app.extensions["kindred.search"].close()
    assert index_problems(settings) == []
