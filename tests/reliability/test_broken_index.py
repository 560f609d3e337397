"""A damaged current version (issue 14 item 12): a truncated store, truncated engine files or
a manifest naming an unknown engine gave an opaque 500 on every page, /healthz included. Each
is a 503 naming the part that cannot be read, on /healthz too, and the service recovers as
soon as `current` names a good version again. Both engines; real files truncated."""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.build import Indexer
from kindred.cli import main
from search.versions import Layout
from tests.reliability.harness import SAMPLE, reliability_settings
from web.app import create_app


def _truncate(path: Path, share: float) -> None:
    os.truncate(path, int(path.stat().st_size * share))


def _engine_files(version: Path) -> list[Path]:
    return [p for p in (version / "engine").iterdir() if p.is_file() and not p.name.endswith(".lock")]


def _unknown_engine(version: Path) -> None:
    manifest = version / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text.replace('"engine": "whoosh"', '"engine": "lucene"')
                        .replace('"engine": "tantivy"', '"engine": "lucene"'))


DAMAGE = {
    "store truncated": (lambda v: _truncate(v / "store.sqlite", 0.5), "store.sqlite"),
    "store emptied": (lambda v: _truncate(v / "store.sqlite", 0.0), "store.sqlite"),
    "engine files truncated": (lambda v: [_truncate(f, 0.5) for f in _engine_files(v)], "engine"),
    "unknown engine": (_unknown_engine, "unknown engine 'lucene'"),
}


@pytest.fixture(scope="module", params=["whoosh", "tantivy"])
def two_versions(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"broken-{request.param}")
    settings = reliability_settings(root, engine=request.param)
    Indexer(settings).build([SAMPLE])
    Indexer(settings).build([SAMPLE])  # the previous version stays (keep_versions = 2)
    return root, request.param


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_version_answers_503_naming_it_and_a_good_one_recovers(two_versions, tmp_path, damage):
    root, engine = two_versions
    shutil.copytree(root, tmp_path / "site", symlinks=True)
    settings = reliability_settings(tmp_path / "site", engine=engine)
    layout = Layout(settings.resolve(settings.index_dir))
    previous, current = layout.complete_versions()
    assert layout.current_name() == current.name
    app = create_app(settings)
    client = app.test_client()
    try:
        layout.switch_current(previous)
        assert client.get("/healthz").get_json()["version"] == previous.name
        harm, named = DAMAGE[damage]
        harm(current)
        layout.switch_current(current)  # as a build (or an operator) would
        for url in ("/healthz", "/api/v1/search?q=ketamine", "/api/v1/related/cbd-vs-thc",
                    "/api/v1/articles/cbd-vs-thc"):
            response = client.get(url)
            assert response.status_code == 503, (url, response.status_code)
            error = response.get_json()["error"]
            assert error["code"] == "broken_index" and named in error["message"] and current.name in error["message"]
        page = client.get("/search?q=ketamine")
        assert page.status_code == 503 and named in html.unescape(page.get_data(as_text=True))
        checked = CliRunner().invoke(main, ["check", "--index-dir", str(settings.index_dir)])
        assert checked.exit_code == 1 and named in checked.output and "Traceback" not in checked.output
        layout.switch_current(previous)
        assert client.get("/healthz").get_json()["version"] == previous.name
        assert client.get("/api/v1/search?q=ketamine").get_json()["total"] > 0
    finally:
        app.extensions["kindred.search"].close()
