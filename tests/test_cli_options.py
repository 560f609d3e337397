"""Every documented option of every `kindred` command, on a real sample index: numbers
below, at and above their defaults, every choice, every flag. Through click's runner, and
`kindred serve` as a real process.

`test_every_option_is_exercised` reads the commands' own option lists, so an option added
without a test here fails it.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from kindred.cli import main
from search.config import reference_markdown
from search.service import SearchService
from tests.browser.servers import LOCALHOST, free_port
from tests.conftest import REPO, SAMPLE, make_settings, write_jsonl
from analytics.recorder import connect

# A word nearly every sample article contains, so every page size shows.
BROAD_QUERY = "use"
ARTICLE = "ketamine-addiction-treatment"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_config(path: Path, **values: object) -> Path:
    """A kindred.toml with these settings (paths written as absolute strings)."""
    path.write_text("".join(f"{name} = {json.dumps(str(v) if isinstance(v, Path) else v)}\n"
                            for name, v in values.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory, sample_index) -> Path:
    """A settings file for the session's sample index (read only here) and its own analytics."""
    root = tmp_path_factory.mktemp("cli")
    return write_config(root / "kindred.toml", index_dir=sample_index / "index",
                        analytics_db=root / "analytics.sqlite", synonyms=REPO / "data" / "synonyms.txt",
                        rules=REPO / "data" / "rules.toml", article_links="local")


@pytest.fixture(scope="module")
def articles(sample_index):
    service = SearchService(make_settings(sample_index))
    yield service.article
    service.close()


def search_json(site: Path, *options: str, query: str = BROAD_QUERY) -> dict:
    result = run("--config", str(site), "search", query, "--json", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def ids(data: dict) -> list[str]:
    return [hit["id"] for hit in data["hits"]]


def failed(result: Result, code: int, *words: str) -> None:
    """A refused command: the exit status, a message naming what was wrong, no traceback."""
    assert result.exit_code == code, result.output
    assert all(word in result.stderr for word in words), result.stderr
    assert "Traceback" not in result.output


# -- search ------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [1, 9, 10, 11, 51])
def test_search_limit_below_at_and_above_the_default(site, limit):
    # 51 is above the API's largest page (search_max_page_size, 50): the CLI's user may ask.
    data = search_json(site, "--limit", str(limit))
    assert data["total"] > 11
    assert len(data["hits"]) == min(limit, data["total"])


def test_search_limit_defaults_to_the_page_size_setting(site, tmp_path):
    assert len(search_json(site)["hits"]) == 10
    smaller = write_config(tmp_path / "kindred.toml", **_settings_of(site), search_page_size=4)
    assert len(search_json(smaller)["hits"]) == 4


def _settings_of(config: Path) -> dict:
    return tomllib.loads(config.read_text(encoding="utf-8"))


def test_search_limit_below_one_is_refused(site):
    failed(run("--config", str(site), "search", BROAD_QUERY, "--limit", "0"), 2, "--limit")


@pytest.mark.parametrize("page_number", [1, 2, 3])
def test_search_page_continues_the_ranking(site, page_number):
    ranking = ids(search_json(site, "--limit", "12"))
    start = (page_number - 1) * 4
    assert ids(search_json(site, "--limit", "4", "--page", str(page_number))) == ranking[start:start + 4]


def test_search_page_out_of_range_is_refused(site):
    failed(run("--config", str(site), "search", BROAD_QUERY, "--page", "0"), 2, "--page")
    failed(run("--config", str(site), "search", BROAD_QUERY, "--page", "101"), 1, "page must be between 1 and 100")


@pytest.mark.parametrize("categories", [[], ["treatment"], ["treatment", "recovery"]])
def test_search_category_filters_any_of_them(site, articles, categories):
    data = search_json(site, "--limit", "50", *[arg for c in categories for arg in ("--category", c)])
    assert data["hits"]
    if not categories:
        assert data["total"] == search_json(site)["total"]
    for hit in data["hits"]:
        assert articles(hit["id"]).category_key in categories or not categories


@pytest.mark.parametrize("tags", [[], ["cannabis"], ["cannabis", "alcohol"]])
def test_search_tag_filters_all_of_them(site, articles, tags):
    data = search_json(site, "--limit", "50", *[arg for t in tags for arg in ("--tag", t)])
    assert data["hits"]
    for hit in data["hits"]:
        assert set(tags) <= set(articles(hit["id"]).tag_keys)


def test_search_sort_by_relevance_and_by_date(site, articles):
    by_relevance = search_json(site, "--limit", "20", "--sort", "relevance")
    scores = [hit["score"] for hit in by_relevance["hits"]]
    assert scores == sorted(scores, reverse=True)
    by_date = search_json(site, "--limit", "20", "--sort", "date")
    dates = [articles(hit["id"]).published or dt.date.min for hit in by_date["hits"]]
    assert dates == sorted(dates, reverse=True) and ids(by_date) != ids(by_relevance)
    failed(run("--config", str(site), "search", BROAD_QUERY, "--sort", "popular"), 2, "--sort")


def test_search_text_output_numbers_results_across_pages(site):
    expected = search_json(site, "--limit", "3", "--page", "2")
    result = run("--config", str(site), "search", BROAD_QUERY, "--limit", "3", "--page", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"{expected['total']} results"
    for number, (line, hit) in enumerate(zip(lines[1:], expected["hits"]), start=4):
        assert line.startswith(f"{number:3}. {hit['title']}  [{hit['id']}]")


def test_search_index_dir_option(site, tmp_path):
    failed(run("--config", str(site), "search", BROAD_QUERY, "--index-dir", str(tmp_path / "none")), 1, "kindred index")
    index_dir = _settings_of(site)["index_dir"]
    assert run("--config", str(site), "search", BROAD_QUERY, "--index-dir", index_dir).exit_code == 0


# -- related -----------------------------------------------------------------------------

def related_ids(site: Path, *options: str) -> list[str]:
    result = run("--config", str(site), "related", ARTICLE, "--json", *options)
    assert result.exit_code == 0, result.output
    return [item["id"] for item in json.loads(result.stdout)["related"]]


@pytest.mark.parametrize("limit", [1, 4, 5, 6, 20, 25])
def test_related_limit_below_at_and_above_the_default(site, limit):
    stored = related_ids(site, "--limit", "20")  # related_k, the most stored per article
    assert len(stored) == 20
    assert related_ids(site, "--limit", str(limit)) == stored[:limit]


def test_related_limit_defaults_to_the_setting_and_refuses_zero(site, tmp_path):
    assert len(related_ids(site)) == 5
    fewer = write_config(tmp_path / "kindred.toml", **_settings_of(site), related_limit=3)
    assert len(related_ids(fewer)) == 3
    failed(run("--config", str(site), "related", ARTICLE, "--limit", "0"), 2, "--limit")


def test_related_text_output_and_index_dir(site, tmp_path):
    expected = related_ids(site)
    result = run("--config", str(site), "related", ARTICLE, "--index-dir", _settings_of(site)["index_dir"])
    assert [line.split("[")[1].split("]")[0] for line in result.stdout.splitlines()] == expected
    failed(run("--config", str(site), "related", "no-such-article"), 1, "no article with id 'no-such-article'")
    failed(run("--config", str(site), "related", ARTICLE, "--index-dir", str(tmp_path / "none")), 1, "kindred index")


# -- index, upsert, delete, reindex --------------------------------------------------------

def test_index_options(site, tmp_path):
    index_dir = tmp_path / "idx"
    result = run("--config", str(site), "index", str(SAMPLE), "--index-dir", str(index_dir), "--engine", "tantivy",
                 "--quiet")
    assert result.exit_code == 0, result.output
    manifest = json.loads((index_dir / "current" / "manifest.json").read_text())
    assert manifest["engine"] == "tantivy"
    assert run("--config", str(site), "index", str(SAMPLE), "--index-dir", str(index_dir), "--engine", "whoosh",
               "--quiet").exit_code == 0
    assert json.loads((index_dir / "current" / "manifest.json").read_text())["engine"] == "whoosh"
    failed(run("--config", str(site), "index", str(SAMPLE), "--engine", "lucene"), 2, "--engine")


def test_index_cluster(site, tmp_path):
    index_dir = tmp_path / "idx"
    result = run("--config", str(site), "index", str(SAMPLE), "--index-dir", str(index_dir), "--cluster", "local:1",
                 "--quiet")
    assert result.exit_code == 0, result.output
    assert "cluster_start" in result.output  # the related step's parts name the cluster's start
    failed(run("--config", str(site), "index", str(SAMPLE), "--index-dir", str(index_dir), "--cluster",
               "10.0.0.20:8786"), 1, "related_cluster must be")


def test_index_allow_empty_and_reset_journal(site, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    index_dir = tmp_path / "idx"
    refused = run("--config", str(site), "index", str(empty), "--index-dir", str(index_dir))
    assert refused.exit_code == 1 and not (index_dir / "current").exists()
    allowed = run("--config", str(site), "index", str(empty), "--index-dir", str(index_dir), "--allow-empty")
    assert allowed.exit_code == 0 and (index_dir / "current").exists()

    source = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "title": "Alcohol and sleep"}])
    extra = write_jsonl(tmp_path / "n.jsonl", [{"id": "n", "title": "Naloxone basics"}])
    run("--config", str(site), "index", str(source), "--index-dir", str(index_dir))
    assert run("--config", str(site), "upsert", str(extra), "--index-dir", str(index_dir)).exit_code == 0
    run("--config", str(site), "index", str(source), "--index-dir", str(index_dir))
    assert search_json(site, "--index-dir", str(index_dir), query="naloxone")["total"] == 1
    run("--config", str(site), "index", str(source), "--index-dir", str(index_dir), "--reset-journal")
    assert search_json(site, "--index-dir", str(index_dir), query="naloxone")["total"] == 0


def test_index_id_prefix(site, tmp_path):
    one = write_jsonl(tmp_path / "one.jsonl", [{"id": "a", "title": "Alcohol"}])
    two = write_jsonl(tmp_path / "two.jsonl", [{"id": "a", "title": "Another alcohol"}])
    index_dir = str(tmp_path / "idx")
    clash = run("--config", str(site), "index", str(one), str(two), "--index-dir", index_dir)
    assert clash.exit_code == 1 and "duplicate id" in clash.stderr
    result = run("--config", str(site), "index", str(one), str(two), "--index-dir", index_dir, "--id-prefix",
                 f"{two}=two-")
    assert result.exit_code == 0, result.output
    found = search_json(site, "--index-dir", index_dir, query="alcohol")
    assert sorted(h["id"] for h in found["hits"]) == ["a", "two-a"]
    failed(run("--config", str(site), "index", str(one), "--index-dir", index_dir, "--id-prefix", "no-equals-sign"),
           2, "is not PATH=PREFIX")
    failed(run("--config", str(site), "index", str(one), "--index-dir", index_dir, "--id-prefix", f"{one}=a b"),
           1, "without spaces or control characters")


def test_check_index_dir_and_repair(site, tmp_path):
    index_dir = tmp_path / "idx"
    shutil.copytree(_settings_of(site)["index_dir"], index_dir, symlinks=True)
    result = run("--config", str(site), "check", "--index-dir", str(index_dir))
    assert result.exit_code == 0 and result.stdout.startswith("ok: version"), result.output
    repaired = run("--config", str(site), "check", "--index-dir", str(index_dir), "--repair")
    assert repaired.exit_code == 0 and repaired.stdout.startswith("resolved 0 interrupted writes"), repaired.output
    manifest = index_dir / "current" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"doc_count": 49', '"doc_count": 48'))
    failed(run("--config", str(site), "check", "--index-dir", str(index_dir)), 1, "1 problem in version")
    failed(run("--config", str(site), "check", "--index-dir", str(tmp_path / "none")), 1, "kindred index")


def test_upsert_delete_and_reindex_take_an_index_dir(site, tmp_path):
    index_dir = tmp_path / "idx"
    shutil.copytree(_settings_of(site)["index_dir"], index_dir, symlinks=True)
    new = write_jsonl(tmp_path / "new.jsonl", [{"id": "n", "title": "Naloxone basics for zqxj readers"}])
    assert run("--config", str(site), "upsert", str(new), "--index-dir", str(index_dir)).exit_code == 0
    assert search_json(site, "--index-dir", str(index_dir), query="zqxj")["total"] == 1
    assert search_json(site, query="zqxj")["total"] == 0  # the other index is untouched
    assert run("--config", str(site), "delete", "n", "--index-dir", str(index_dir)).exit_code == 0
    assert search_json(site, "--index-dir", str(index_dir), query="zqxj")["total"] == 0
    result = run("--config", str(site), "reindex", "--index-dir", str(index_dir))
    assert result.exit_code == 0, result.output
    assert search_json(site, "--index-dir", str(index_dir))["total"] == search_json(site)["total"]


# -- export --------------------------------------------------------------------------------

def test_export_writes_under_the_public_path_for_the_site_url(site, sample_index, tmp_path):
    target = tmp_path / "static"
    result = run("--config", str(site), "export", "--static", str(target), "--index-dir", str(sample_index / "index"),
                 "--site-url", "https://health.example.org/", "--public-path", "https://cdn.example/kindred/")
    assert result.exit_code == 0, result.output
    assert "exported 49 articles" in result.stdout
    version = json.loads((target / "current.json").read_text())["version"]
    page = (target / version / "widget" / "related" / f"{ARTICLE}.html").read_text()
    assert 'href="/kindred/latest/static/widget-frame.css"' in page  # only the URL's path is used
    listed = json.loads((target / version / "related" / f"{ARTICLE}.json").read_text())["related"]
    assert listed and all(i["url"].startswith("https://health.example.org/articles/") for i in listed)


def test_export_refuses_bad_options(site, tmp_path):
    url = ("--site-url", "https://health.example.org/")
    failed(run("--config", str(site), "export", *url), 2, "--static")
    failed(run("--config", str(site), "export", "--static", str(tmp_path / "a"), *url, "--public-path", "kindred?x"),
           1, "--public-path")
    failed(run("--config", str(site), "export", "--static", str(tmp_path / "b")), 1, "site_url")
    failed(run("--config", str(site), "export", "--static", str(tmp_path / "c"), *url, "--index-dir",
               str(tmp_path / "none")), 1, "kindred index")


# -- eval, eval-related --------------------------------------------------------------------

@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> tuple[Path, Path]:
    """Six judged queries over the sample site."""
    root = tmp_path_factory.mktemp("judged")
    queries = {"q1": "ketamine treatment", "q2": "weed calories", "q3": "molly", "q4": "naloxone overdose",
               "q5": "alcohol withdrawal", "q6": "cbd thc"}
    relevant = {"q1": "ketamine-addiction-treatment", "q2": "does-weed-have-calories", "q3": "mdma-effects-and-risks",
                "q4": "naloxone-how-to-use", "q5": "alcohol-withdrawal", "q6": "cbd-vs-thc"}
    write_jsonl(root / "queries.jsonl", [{"id": q, "text": text} for q, text in queries.items()])
    (root / "qrels.tsv").write_text("".join(f"{q}\t{doc}\t1\n" for q, doc in relevant.items()), encoding="utf-8")
    return root / "queries.jsonl", root / "qrels.tsv"


def evaluate(site: Path, judged: tuple[Path, Path], *options: str) -> dict:
    queries, qrels = judged
    result = run("--config", str(site), "eval", "--queries", str(queries), "--qrels", str(qrels), *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_eval_on_the_current_index_or_on_docs_with_either_engine(site, judged):
    current = evaluate(site, judged, "--index-dir", _settings_of(site)["index_dir"])
    assert current["queries"] == 6 and "indexed" not in current and current["ndcg@10"] > 0
    for engine in ("whoosh", "tantivy"):
        built = evaluate(site, judged, "--docs", str(SAMPLE), "--engine", engine)
        assert built["engine"] == engine and built["indexed"] == 49 and built["queries"] == 6


def test_eval_splits_and_operators(site, judged):
    tune, heldout = evaluate(site, judged, "--split", "tune"), evaluate(site, judged, "--split", "heldout")
    assert tune["queries"] + heldout["queries"] == evaluate(site, judged, "--split", "all")["queries"] == 6
    assert evaluate(site, judged, "--operators")["queries"] == 6
    failed(run("--config", str(site), "eval", "--queries", str(judged[0]), "--qrels", str(judged[1]),
               "--split", "half"), 2, "--split")


@pytest.mark.parametrize("k", [4, 5, 6])
def test_eval_related_k_below_at_and_above_the_default(site, k):
    result = run("--config", str(site), "eval-related", "--docs", str(SAMPLE), "-k", str(k))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert f"precision@{k}" in report and 0 < report[f"precision@{k}"] <= 1


def test_eval_related_labels_and_k_zero(site):
    for label in ("category", "tags"):
        result = run("--config", str(site), "eval-related", "--docs", str(SAMPLE), "--label", label)
        assert result.exit_code == 0 and json.loads(result.stdout)["label"] == label
    failed(run("--config", str(site), "eval-related", "--docs", str(SAMPLE), "-k", "0"), 2, "-k")


def test_eval_related_split(site):
    reports = {}
    for split in ("all", "tune", "heldout"):
        result = run("--config", str(site), "eval-related", "--docs", str(SAMPLE), "--split", split)
        assert result.exit_code == 0, result.output
        reports[split] = json.loads(result.stdout)
    halves = reports["tune"]["labelled_sources"] + reports["heldout"]["labelled_sources"]
    assert 0 < reports["tune"]["labelled_sources"] < halves == reports["all"]["labelled_sources"]
    failed(run("--config", str(site), "eval-related", "--docs", str(SAMPLE), "--split", "half"), 2, "--split")


# -- analytics -----------------------------------------------------------------------------

def seed_searches(site: Path, ages_in_days: list[float], queries: list[str] | None = None) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    conn = connect(Path(_settings_of(site)["analytics_db"]))
    with conn:
        conn.execute("DELETE FROM searches")
        for n, age in enumerate(ages_in_days):
            at = (now - dt.timedelta(days=age)).isoformat(timespec="milliseconds")
            query = queries[n] if queries else "ketamine"
            conn.execute("INSERT INTO searches (at, query, filters, results, latency_ms, page, session) "
                         "VALUES (?, ?, '{}', 3, 5.0, 1, NULL)", (at, query))
    conn.close()


def report(site: Path, *options: str) -> dict:
    result = run("--config", str(site), "analytics", "report", "--json", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("days, counted", [(29, 1), (30, 2), (31, 3)])
def test_analytics_report_days_below_at_and_above_the_default(site, days, counted):
    seed_searches(site, [1, 29.5, 30.5])
    assert report(site)["totals"]["searches"] == 2  # the default period, 30 days
    assert report(site, "--days", str(days))["totals"]["searches"] == counted


@pytest.mark.parametrize("limit", [19, 20, 21])
def test_analytics_report_limit_below_at_and_above_the_default(site, limit):
    queries = [f"query {n}" for n in range(25)]
    seed_searches(site, [1] * 25, queries)
    assert len(report(site)["top_queries"]) == 20
    assert len(report(site, "--limit", str(limit))["top_queries"]) == limit


def test_analytics_report_csv_text_and_refusals(site):
    seed_searches(site, [1, 2], ["ketamine", "molly"])
    csv = run("--config", str(site), "analytics", "report", "--csv").stdout
    assert csv.splitlines()[0].startswith("section,") and "top_queries,ketamine" in csv
    text = run("--config", str(site), "analytics", "report").stdout
    assert text.startswith("Last 30 days: 2 searches") and "ketamine" in text
    failed(run("--config", str(site), "analytics", "report", "--days", "0"), 2, "--days")
    failed(run("--config", str(site), "analytics", "report", "--limit", "0"), 2, "--limit")


@pytest.mark.parametrize("days, removed", [(None, 1), (89, 2), (90, 1), (91, 0)])
def test_analytics_purge_days_below_at_and_above_the_retention(site, days, removed):
    seed_searches(site, [10, 89.5, 90.5])
    result = run("--config", str(site), "analytics", "purge", *(["--days", str(days)] if days else []))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"removed {removed} events older than {days or 90} days")


def test_analytics_purge_refuses_negative_days(site):
    failed(run("--config", str(site), "analytics", "purge", "--days", "-1"), 2, "--days")


def test_analytics_report_db_reads_the_databases_named(site, tmp_path):
    seed_searches(site, [1, 2])
    other = tmp_path / "replica.sqlite"
    seed_sessions(other, [("zzyzx qqvqq", "ketamine", 1)] * 3)  # 6 searches
    own = _settings_of(site)["analytics_db"]
    assert report(site)["totals"]["searches"] == 2
    assert report(site, "--db", str(other))["totals"]["searches"] == 6
    assert report(site, "--db", own, "--db", str(other))["totals"]["searches"] == 8
    failed(run("--config", str(site), "analytics", "report", "--db", str(tmp_path / "nope.sqlite")), 1,
           "nope.sqlite: no such analytics database")


def seed_sessions(path: Path, visits: list[tuple[str, str, float]]) -> None:
    """One session per visit (words that find nothing, then words that find 3 results), that
    many days ago."""
    now = dt.datetime.now(dt.timezone.utc)
    conn = connect(path)
    with conn:
        for n, (misses, finds, age) in enumerate(visits):
            at = now - dt.timedelta(days=age)
            for offset, (query, results) in enumerate(((misses, 0), (finds, 3))):
                conn.execute("INSERT INTO searches (at, query, filters, results, latency_ms, page, session) "
                             "VALUES (?, ?, '{}', ?, 5.0, 1, ?)",
                             ((at + dt.timedelta(seconds=offset)).isoformat(timespec="milliseconds"), query, results,
                              f"{n:032x}"))
    conn.close()


def tune_json(site: Path, *options: str) -> dict:
    result = run("--config", str(site), "tune", "--from-analytics", "--json", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_tune_min_sessions_days_limit_and_db(site, tmp_path):
    events = tmp_path / "events.sqlite"
    seed_sessions(events, [("zzyzx qqvqq", "ketamine", 1)] * 3 + [("zzyzx qqvqq", "ketamine", 40)]
                  + [("qqvqq molly", "mdma", 1)] * 2)
    found = tune_json(site, "--db", str(events))["synonyms"]  # the default: 3 sessions in 30 days
    assert [(p["line"], p["sessions"]) for p in found] == [("zzyzx qqvqq => ketamine", 3)]
    assert tune_json(site, "--db", str(events), "--min-sessions", "4")["synonyms"] == []
    found = tune_json(site, "--db", str(events), "--min-sessions", "4", "--days", "45")["synonyms"]
    assert [(p["line"], p["sessions"]) for p in found] == [("zzyzx qqvqq => ketamine", 4)]
    found = tune_json(site, "--db", str(events), "--min-sessions", "2", "--limit", "1")["synonyms"]
    assert [p["line"] for p in found] == ["zzyzx qqvqq => ketamine"]
    assert len(tune_json(site, "--db", str(events), "--min-sessions", "2")["synonyms"]) == 2
    failed(run("--config", str(site), "tune"), 2, "--from-analytics")
    failed(run("--config", str(site), "tune", "--from-analytics", "--min-sessions", "0"), 2, "--min-sessions")
    failed(run("--config", str(site), "tune", "--from-analytics", "--days", "0"), 2, "--days")


# -- config and the global options -----------------------------------------------------------

def test_config_prints_settings_or_the_reference(site):
    printed = run("--config", str(site), "config").stdout
    assert f"index_dir = PosixPath('{_settings_of(site)['index_dir']}')" in printed
    assert run("config", "--markdown").stdout == reference_markdown()


def test_global_options(site, tmp_path):
    failed(run("--config", str(tmp_path / "missing.toml"), "config"), 1, "config file not found")
    # Logging is set up once per process: -v as a real process.
    # A generous search_timeout: a cold process on a loaded machine must not fail a test of logging.
    def kindred(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "kindred", "--config", str(site), *args], cwd=tmp_path,
                              capture_output=True, text=True, env={**os.environ, "KINDRED_SEARCH_TIMEOUT": "60"})
        assert done.returncode == 0, done.stderr
        return done

    assert f"settings from {site}" in kindred("-v", "search", BROAD_QUERY).stderr
    assert "INFO" in kindred("--verbose", "search", BROAD_QUERY).stderr
    assert "INFO" not in kindred("search", BROAD_QUERY).stderr
    version = run("--version")
    assert version.exit_code == 0 and "version" in version.stdout


# -- serve (real processes) ----------------------------------------------------------------

class Served:
    """`kindred serve OPTIONS` in a subprocess, answering /healthz."""

    def __init__(self, site: Path, workdir: Path, *options: str, environ: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINDRED_")} | (environ or {})
        env["PYTHONPATH"] = str(REPO)
        self.log = open(workdir / f"serve-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kindred", "--config", str(site), "serve", "--host", LOCALHOST,
             "--port", str(self.port), *options], cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def health(self) -> tuple[int, dict]:
        """The first answer of /healthz once the server listens."""
        for _ in range(600):
            assert self.process.poll() is None, Path(self.log.name).read_text()
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                with error:
                    return error.code, json.loads(error.read())
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"no answer from {self.url}:\n{Path(self.log.name).read_text()}")

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def served(site, tmp_path):
    started: list[Served] = []

    def start(*options: str, environ: dict[str, str] | None = None) -> Served:
        started.append(Served(site, tmp_path, *options, environ=environ))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("workers, worker_type", [(None, None), ("1", "sync"), ("3", "gevent")])
def test_serve_workers_below_at_and_above_the_default_of_either_worker_type(served, workers, worker_type):
    server = served(*(["--workers", workers] if workers else []),
                    *(["--worker-type", worker_type] if worker_type else []))
    status, health = server.health()
    assert status == 200 and health["doc_count"] == 49
    expected = int(workers or 2)  # the workers setting's default
    for _ in range(100):  # gunicorn forks its workers once it listens
        if len(server.children()) == expected:
            break
        time.sleep(0.1)
    assert len(server.children()) == expected
    shown = {None: "GreenletWorker", "gevent": "GreenletWorker", "sync": "sync"}[worker_type]
    assert f"Using worker: {shown}" in Path(server.log.name).read_text()


@pytest.mark.slow
def test_serve_dev_is_one_process_and_index_dir_picks_the_index(served, site, tmp_path):
    empty = tmp_path / "no-index"
    server = served("--dev", "--index-dir", str(empty))
    status, health = server.health()
    assert (status, health["error"]["code"]) == (503, "no_index")  # nothing indexed there
    assert server.children() == []  # no reloader, no workers


@pytest.mark.slow
def test_serve_primary_runs_a_replica_of_that_url(served, site, tmp_path):
    unreachable = f"http://{LOCALHOST}:{free_port()}"
    failed(run("--config", str(site), "serve", "--primary", unreachable), 1, "replication_token")
    server = served("--primary", unreachable, "--index-dir", str(tmp_path / "replica-index"),
                    environ={"KINDRED_REPLICATION_TOKEN": "a-shared-secret"})
    status, health = server.health()
    # A replica that has received nothing yet says so, naming the primary it follows.
    assert (status, health["error"]["code"]) == (503, "no_index")
    assert health["replica"]["primary"] == unreachable


def test_serve_dev_help_and_docs_say_what_it_does():
    """One process, no reloader, no debugger (test_serve_dev_is_one_process... runs it)."""
    help_text = " ".join(run("serve", "--help").stdout.split())
    assert "no reloader" in help_text and "no debugger" in help_text and "reloads" not in help_text
    quickstart = (REPO / "docs" / "quickstart.md").read_text(encoding="utf-8")
    assert "it does not reload" in quickstart and "debug mode" not in quickstart


def test_serve_refuses_bad_numbers(site):
    for option, value in (("--port", "0"), ("--port", "65536"), ("--workers", "0"), ("--worker-type", "threads")):
        failed(run("--config", str(site), "serve", option, value), 2, option)
    failed(run("--config", str(site), "serve", "--host", "", "--index-dir", "x", "--dev", "--workers", "-1"), 2,
           "--workers")


def test_every_option_is_exercised():
    """Each option of each command appears in a test named after that command (or in a
    helper such a test calls)."""
    module = sys.modules[__name__]
    helpers = {name: inspect.getsource(obj) for name, obj in vars(module).items()
               if inspect.isfunction(obj) and not name.startswith("test_")}
    sources: dict[str, str] = {}
    for name, test in vars(module).items():
        if name.startswith("test_") and inspect.isfunction(test):
            used = "".join(helpers.get(called, "") for called in test.__code__.co_names)
            sources[name] = inspect.getsource(test) + used

    missing = []

    def walk(command: click.Command, path: list[str]) -> None:
        word = "_" + "_".join(path or ["global"]).replace("-", "_") + "_"
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                if not any(f'"{opt}"' in source for name, source in sources.items() if word in name + "_"
                           for opt in param.opts):
                    missing.append((" ".join(path), param.opts))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(main, [])
    assert not missing, f"options no test uses: {missing}"
