"""A full disk during a build (issue 14 item 13): `kindred index` printed a Python traceback
and `POST /api/v1/reindex` answered 500. Now: one clear line and exit status 1 from the CLI,
507 `insufficient_storage` from the API, the previous version still serving and nothing
left behind. The "full disk" is a process whose files may not grow past a limit
(RLIMIT_FSIZE), the CLI a real `kindred index` process."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from indexer.build import Indexer
from indexer.check import check_index
from search.versions import Layout
from tests.reliability.harness import (
    SAMPLE, child_api, fork_context, leftovers, limit_file_size, reliability_settings,
)
from web.app import create_app

KINDRED = Path(sys.executable).with_name("kindred")
# Small enough to stop the engine's segment (64 KiB) or the store (1 MiB) of the sample site.
FILE_SIZE_LIMITS = (65_536, 1_048_576)


@pytest.fixture(params=["whoosh", "tantivy"])
def site(request, tmp_path):
    settings = reliability_settings(tmp_path, engine=request.param)
    Indexer(settings).build([SAMPLE])
    return settings


def _unchanged(settings, version: str) -> None:
    layout = Layout(settings.resolve(settings.index_dir))
    assert layout.current_name() == version
    assert [v.name for v in layout.complete_versions()] == [version]
    assert leftovers(layout.root) == {"build_dirs": [], "current_tmp": []}
    assert check_index(settings).problems == []
    app = create_app(settings)
    try:
        health = app.test_client().get("/healthz")
        assert health.status_code == 200 and health.get_json()["version"] == version
    finally:
        app.extensions["kindred.search"].close()


@pytest.mark.parametrize("limit", FILE_SIZE_LIMITS)
def test_kindred_index_on_a_full_disk_says_so_in_one_line(site, limit):
    version = Layout(site.resolve(site.index_dir)).current_name()
    result = subprocess.run(
        [str(KINDRED), "index", str(SAMPLE), "--index-dir", str(site.index_dir), "--engine", site.engine, "--quiet"],
        preexec_fn=partial(limit_file_size, limit), capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip()
    assert message.startswith("Error: the disk refused the build") and "\n" not in message, message
    assert "the current index is left serving" in message
    _unchanged(site, version)


def test_reindex_through_the_api_on_a_full_disk_answers_507(site):
    version = Layout(site.resolve(site.index_dir)).current_name()  # built from SAMPLE, which reindex reads again
    ctx = fork_context()
    results = ctx.Queue()
    child = ctx.Process(target=child_api, args=(site, "POST", "/api/v1/reindex", None, results, FILE_SIZE_LIMITS[0]))
    child.start()
    status, body = results.get(timeout=600)
    child.join(timeout=60)
    assert status == 507, body
    assert '"insufficient_storage"' in body and "the current index is left serving" in body
    _unchanged(site, version)
