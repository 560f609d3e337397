"""Search API responses shared by a server's workers: two apps on one index directory stand
for two gunicorn workers (each has its own memory; they share the index's responses.sqlite)."""

from __future__ import annotations

import os
import shutil
import sqlite3

from search import snapshot
from tests.conftest import ADMIN_TOKEN, make_settings
from web.app import create_app
from web import response_cache
from web.response_cache import FILE_NAME, PRUNE_EVERY

SEARCH = "/api/v1/search?q=ketamine"


def test_a_search_answered_by_one_worker_is_a_lookup_in_the_other(writable_sample):
    first, second = (create_app(writable_sample).test_client() for _ in range(2))
    answered = first.get(SEARCH)
    assert answered.headers["X-Kindred-Cache"] == "miss"
    shared = second.get(SEARCH)
    assert shared.headers["X-Kindred-Cache"] == "hit"
    assert shared.get_json() == answered.get_json() and shared.get_json()["total"] > 0
    # The same request written differently is the same entry; another page is not.
    assert second.get("/api/v1/search?q=%20ketamine%20").headers["X-Kindred-Cache"] == "hit"
    assert second.get(SEARCH + "&page=2").headers["X-Kindred-Cache"] == "miss"


def test_a_write_or_a_new_rule_is_never_answered_from_an_older_entry(tmp_path, sample_index, monkeypatch):
    shutil.copytree(sample_index / "index", tmp_path / "index", symlinks=True)
    rules = tmp_path / "rules.toml"
    rules.write_text("")
    settings = make_settings(tmp_path, rules=str(rules))
    reader, writer = (create_app(settings).test_client() for _ in range(2))
    query = "/api/v1/search?q=naloxone%20schools"
    before = reader.get(query).get_json()
    assert "new-naloxone" not in [h["id"] for h in before["hits"]]

    article = {"id": "new-naloxone", "title": "Naloxone in schools", "body": "Naloxone kits in schools."}
    assert writer.post("/api/v1/articles", json=article, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200
    after = writer.get(query)
    assert after.headers["X-Kindred-Cache"] == "miss"
    assert "new-naloxone" in [h["id"] for h in after.get_json()["hits"]]
    assert "new-naloxone" in [h["id"] for h in reader.get(query).get_json()["hits"]]

    rules.write_text('[[rule]]\nname = "schools"\nmatch_any = ["naloxone"]\n[rule.banner]\n'
                     'title = "Naloxone in your school"\ntext = "Ask the school nurse."\n')
    os.utime(rules, ns=(1, 1))  # a different mtime, even on a coarse clock
    monkeypatch.setattr(snapshot, "CONFIG_CHECK_SECONDS", 0)  # look at the file on this request
    banners = reader.get(query).get_json()["banners"]
    assert [b["title"] for b in banners] == ["Naloxone in your school"]


def test_links_are_kept_per_host(writable_sample):
    first, second = (create_app(writable_sample).test_client() for _ in range(2))
    one = first.get(SEARCH, headers={"Host": "one.example"}).get_json()
    other = second.get(SEARCH, headers={"Host": "other.example"})
    assert other.headers["X-Kindred-Cache"] == "miss"
    assert one["hits"][0]["url"].startswith("http://one.example/")
    assert other.get_json()["hits"][0]["url"].startswith("http://other.example/")


def test_the_shared_file_stays_within_its_bound(tmp_path, sample_index):
    shutil.copytree(sample_index / "index", tmp_path / "index", symlinks=True)
    client = create_app(make_settings(tmp_path, search_shared_cache_size=10)).test_client()
    for page in range(1, 3 * PRUNE_EVERY):
        assert client.get(f"/api/v1/search?q=cannabis&per_page=1&page={page % 40 + 1}&sort=date"
                          f"&category=c{page}").status_code == 200
    with sqlite3.connect(tmp_path / "index" / FILE_NAME) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert 0 < rows <= 10 + PRUNE_EVERY


def test_a_broken_cache_file_is_a_miss_never_an_error(writable_sample, tmp_path):
    index = writable_sample.resolve(writable_sample.index_dir)
    (index / FILE_NAME).write_bytes(b"this is not a database" * 100)
    client = create_app(writable_sample).test_client()
    for _ in range(2):
        answered = client.get(SEARCH)
        assert answered.status_code == 200 and answered.get_json()["total"] > 0
    assert (index / FILE_NAME).read_bytes().startswith(b"this is not a database")


def test_a_shared_file_that_could_not_be_opened_is_tried_again_later(writable_sample, monkeypatch):
    monkeypatch.setattr(response_cache, "REOPEN_SECONDS", 0.0)
    shared_file = writable_sample.resolve(writable_sample.index_dir) / FILE_NAME
    for copied in shared_file.parent.glob(FILE_NAME + "*"):
        copied.unlink()
    shared_file.mkdir()  # a directory where the file should be: it cannot be opened
    first, second = (create_app(writable_sample).test_client() for _ in range(2))
    assert first.get(SEARCH).headers["X-Kindred-Cache"] == "miss"
    shared_file.rmdir()
    assert first.get(SEARCH + "&page=2").headers["X-Kindred-Cache"] == "miss"
    assert second.get(SEARCH + "&page=2").headers["X-Kindred-Cache"] == "hit"
    assert second.get(SEARCH).headers["X-Kindred-Cache"] == "miss"  # answered while it could not be shared
