"""The related batch on a real Dask cluster (issue 18 acceptance 2): a LocalCluster of two
worker processes gives exactly the lists, candidates and vectors the in-process build gives;
the setting is checked and nothing loads Dask unless asked."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from indexer import related_build
from indexer.build import Indexer
from indexer.related import RelatedPolicy
from indexer.related_build import InProcess, list_block
from indexer.sources import Record, read_paths
from search.article import Article
from search.config import ConfigError, load_settings
from search.document import IndexDoc
from tests.browser.servers import LOCALHOST, free_port
from tests.conftest import REPO, SAMPLE, make_settings, write_jsonl

ARTICLES = 360


def synthetic_site(path: Path) -> Path:
    """ARTICLES articles made of the sample site's sentences: each mostly about one sample
    article (its category and tags, a few sentences of another mixed in), with dates over two
    years, near-copies, editor pins and blocks, so every part of blending has work."""
    settings = make_settings(path.parent)
    sample = [item.article for item in read_paths([SAMPLE], settings) if isinstance(item, Record)]
    sentences = [[s for s in re.split(r"(?<=[.!?])\s+", a.body) if len(s) > 30] for a in sample]
    rng = random.Random(18)
    records = []
    for number in range(ARTICLES):
        topic = number % len(sample)
        other = rng.randrange(len(sample))
        body = rng.sample(sentences[topic], min(6, len(sentences[topic]))) + rng.sample(sentences[other], 2)
        records.append({
            "id": f"a{number}", "title": f"{sample[topic].title} ({number})", "body": " ".join(body),
            "category": sample[topic].category, "tags": list(sample[topic].tags[:2]),
            "published": (dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(730))).isoformat(),
        })
    for number in range(0, ARTICLES, 40):  # the same story under another id
        records.append({**records[number], "id": f"copy{number}"})
    records[7]["related_pins"] = ["a100", "a200"]
    records[8]["related_blocks"] = ["a9", "a10"]
    return write_jsonl(path, records)


def related_tables(index: Path) -> dict[str, list[tuple]]:
    store = sqlite3.connect(index / "current" / "store.sqlite")
    try:
        return {table: store.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("related", "related_targets", "related_candidates", "related_vectors", "related_terms",
                              "related_topics")}
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("diversity", [0.0, 0.3])
def test_a_local_cluster_of_two_processes_gives_the_lists_of_the_in_process_build(tmp_path, diversity):
    source = synthetic_site(tmp_path / "site.jsonl")
    tables = {}
    for where in ("", "local:2"):
        root = tmp_path / (where.replace(":", "-") or "in-process")
        report = Indexer(make_settings(root, related_cluster=where, related_diversity=diversity)).build([source])
        assert report.indexed == ARTICLES + ARTICLES // 40
        tables[where] = related_tables(root / "index")
        if where:
            assert report.related_timings["cluster_start_s"] > 0  # it did run on the cluster
    in_process, on_cluster = tables[""], tables["local:2"]
    assert len(in_process["related"]) == ARTICLES + ARTICLES // 40
    lists = {row[0]: json.loads(row[1]) for row in in_process["related"]}
    assert lists["a7"][0][:3] == ["a100", 1.0, "pinned"] and lists["a7"][1][:3] == ["a200", 1.0, "pinned"]
    assert not {"a9", "a10"} & {item[0] for item in lists["a8"]}
    assert {item[0] for item in lists["a0"]}.isdisjoint({"copy0"})  # its own copy is no news
    for table, rows in in_process.items():
        assert on_cluster[table] == rows, table


@pytest.mark.slow
def test_kindred_index_on_a_scheduler_and_workers_started_as_documented(tmp_path):
    """docs/scaling.md's commands: `dask scheduler`, `dask worker` (two processes), then
    `kindred index --cluster tcp://...`; the lists are the in-process build's."""
    source = synthetic_site(tmp_path / "site.jsonl")
    # Default settings on both sides: the command runs where no kindred.toml is, without KINDRED_* variables.
    environ = {name: value for name, value in os.environ.items() if not name.startswith("KINDRED_")}
    Indexer(load_settings(overrides={"index_dir": str(tmp_path / "in-process")}, environ={},
                          look_in_cwd=False)).build([source])
    port = free_port()
    address = f"tcp://{LOCALHOST}:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler = subprocess.Popen([dask, "scheduler", "--host", LOCALHOST, "--port", str(port), "--no-dashboard"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        result = subprocess.run([sys.executable, "-m", "kindred", "index", str(source), "--index-dir",
                                 str(tmp_path / "cluster"), "--cluster", address, "--quiet"],
                                capture_output=True, text=True, cwd=tmp_path, env=environ, timeout=600)
    finally:
        for process in (workers, scheduler):
            process.terminate()
            process.wait(timeout=60)
    assert result.returncode == 0, result.stderr
    assert "cluster_start" in result.stdout  # the build says it ran on the cluster
    assert related_tables(tmp_path / "cluster") == related_tables(tmp_path / "in-process")


class CountingLists(InProcess):
    """In process, counting the lists its list blocks have made."""

    def __init__(self) -> None:
        super().__init__()
        self.lists_made = 0

    def stream(self, function, shared, items):
        for result in super().stream(function, shared, items):
            if function is list_block:
                self.lists_made += len(result)
            yield result


def test_what_list_blocks_read_travels_and_is_passed_on_as_it_was_made():
    """A list block's work sent to a worker, and from it to the next (a broadcast's hops),
    reads back the same articles and cards as the building process made."""
    articles = [Article(id=f"a{i}", title=f"Title {i}", body="Body text.", category="C", tags=("t",),
                        published=dt.date(2024, 1, 1 + i)) for i in range(3)]
    settings = make_settings(Path("/nonexistent"))
    work = related_build.ListWork(RelatedPolicy.from_settings(settings), {a.id: a for a in articles},
                                  [a.id for a in articles], ["word"], {}, related_build.item_cards(settings, articles),
                                  None)
    received = pickle.loads(pickle.dumps(work))
    passed_on = pickle.loads(pickle.dumps(received))
    for copy in (received, passed_on):
        assert dict(copy.articles) == {a.id: a for a in articles}
        assert dict(copy.cards) == work.cards and copy.ids == work.ids


def test_each_block_s_lists_are_handed_to_the_store_before_the_next_block_is_blended(tmp_path, monkeypatch):
    """Bounded memory: a build never holds every article's rendered list (about 20 KB each),
    only the block being stored."""
    monkeypatch.setattr(related_build, "BLOCK_ROWS", 50)
    source = synthetic_site(tmp_path / "site.jsonl")
    articles = [Article.from_mapping(json.loads(line)) for line in source.read_text().splitlines()]
    runner = CountingLists()
    written: list[int] = []

    def write(block):
        assert runner.lists_made == sum(written) + len(block)  # no block made ahead of the store
        written.append(len(block))

    related_build.compute(make_settings(tmp_path), articles, [IndexDoc.from_article(a) for a in articles], {},
                          write, lambda model: None, runner)
    assert written == [50] * (len(articles) // 50) + [len(articles) % 50]


def test_the_setting_takes_a_local_cluster_or_a_scheduler_address(tmp_path):
    for good in ("", "local:1", "local:4", "tcp://10.0.0.20:8786", "tls://scheduler.example:8786"):
        assert make_settings(tmp_path, related_cluster=good).related_cluster == good
    for bad in ("local:0", "local:two", "local", "10.0.0.20:8786", "tcp://", "tcp://host:8786/path"):
        with pytest.raises(ConfigError, match="related_cluster must be"):
            make_settings(tmp_path, related_cluster=bad)


def test_index_cluster_with_a_wrong_address_is_one_line_and_exit_1(tmp_path):
    source = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "title": "Alcohol", "body": "Alcohol and sleep."}])
    result = subprocess.run([sys.executable, "-m", "kindred", "index", str(source), "--index-dir",
                             str(tmp_path / "index"), "--cluster", "local:none"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: related_cluster must be empty, local:N (N processes) or a Dask scheduler's address such as "
        "tcp://10.0.0.20:8786, not 'local:none'"]
    assert not (tmp_path / "index" / "current").exists()


def test_an_in_process_build_never_loads_dask(tmp_path):
    source = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "title": "Alcohol", "body": "Alcohol and sleep."},
                                                {"id": "b", "title": "Sleep", "body": "Sleep and alcohol."}])
    script = (
        "import json, sys\n"
        "from indexer.build import Indexer\n"
        "from search.config import load_settings\n"
        f"settings = load_settings(overrides={{'index_dir': {str(tmp_path / 'index')!r}}}, environ={{}}, look_in_cwd=False)\n"
        f"Indexer(settings).build([{str(source)!r}])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
