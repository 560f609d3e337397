"""The `kindred` command line, through click's runner and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from kindred.cli import main
from tests.conftest import SAMPLE, write_jsonl


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_index_search_related_round_trip(tmp_path):
    index_dir = str(tmp_path / "idx")
    env = {"KINDRED_SYNONYMS": str(SAMPLE.parent / "synonyms.txt")}
    result = run("index", str(SAMPLE), "--index-dir", index_dir, env=env)
    assert result.exit_code == 0, result.output
    assert "indexed 49 articles" in result.output

    found = json.loads(run("search", "ketamine", "--json", "--index-dir", index_dir, env=env).output)
    assert found["total"] == 3 and set(found["hits"][0]) >= {"id", "title", "url", "score", "snippet"}

    related = json.loads(run("related", "ketamine-addiction-treatment", "--json", "--index-dir", index_dir).output)
    assert related["id"] == "ketamine-addiction-treatment"
    assert set(related["related"][0]) >= {"id", "title", "url", "score", "teaser"}


def test_broken_source_line_names_file_and_line_and_exits_non_zero(tmp_path):
    source = tmp_path / "articles.jsonl"
    source.write_text('{"id": "a", "title": "Alcohol"}\n{"id": "b", "title"\n{"id": "c", "title": "Cannabis"}\n')
    result = CliRunner().invoke(main, ["index", str(source), "--index-dir", str(tmp_path / "idx")])
    assert result.exit_code == 1
    assert f"{source}:2" in result.stderr and "1 records rejected" in result.stderr
    assert "indexed 2 articles" in result.stdout


def test_domain_errors_are_messages_not_tracebacks(tmp_path):
    result = CliRunner().invoke(main, ["search", "weed", "--index-dir", str(tmp_path / "none")])
    assert result.exit_code == 1 and "kindred index" in result.stderr and "Traceback" not in result.stderr


def test_upsert_and_delete_commands(tmp_path):
    index_dir = str(tmp_path / "idx")
    run("index", str(write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "title": "Alcohol and sleep"}])), "--index-dir", index_dir)
    new = write_jsonl(tmp_path / "new.jsonl", [{"id": "n", "title": "Naloxone basics"}])
    assert "upserted 1" in run("upsert", str(new), "--index-dir", index_dir).output
    assert json.loads(run("search", "naloxone", "--json", "--index-dir", index_dir).output)["total"] == 1
    assert "deleted 1" in run("delete", "n", "--index-dir", index_dir).output
    assert json.loads(run("search", "naloxone", "--json", "--index-dir", index_dir).output)["total"] == 0


def test_console_script_runs_as_a_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kindred", "--help"], capture_output=True, text=True, check=True)
    assert "index" in result.stdout and "serve" in result.stdout


def test_reindex_reports_rejections_and_reset_journal_forgets_api_writes(tmp_path):
    index_dir = str(tmp_path / "idx")
    source = tmp_path / "a.jsonl"
    source.write_text('{"id": "a", "title": "Alcohol and sleep"}\n{"id": "b", "title"\n')
    assert run("index", str(source), "--index-dir", index_dir).exit_code == 1
    result = CliRunner().invoke(main, ["reindex", "--index-dir", index_dir])
    assert result.exit_code == 1 and "a.jsonl:2" in result.stderr

    api_article = write_jsonl(tmp_path / "api.jsonl", [{"id": "api", "title": "Naloxone from the API"}])
    run("upsert", str(api_article), "--index-dir", index_dir)
    run("index", str(source), "--index-dir", index_dir)
    assert json.loads(run("search", "naloxone", "--json", "--index-dir", index_dir).output)["total"] == 1
    run("index", str(source), "--index-dir", index_dir, "--reset-journal")
    assert json.loads(run("search", "naloxone", "--json", "--index-dir", index_dir).output)["total"] == 0
