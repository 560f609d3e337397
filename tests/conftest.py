"""Shared fixtures: real indexes in temp dirs, a real Flask app, the real sample site."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexer.build import Indexer
from search.config import Settings, load_settings
from search.service import SearchService
from web import create_app

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ADMIN_TOKEN = "test-admin-token"


def make_settings(tmp: Path, **overrides) -> Settings:
    values = {
        "index_dir": str(tmp / "index"),
        "synonyms": str(REPO / "data" / "synonyms.txt"),
        "rules": str(REPO / "data" / "rules.toml"),
        "analytics_db": str(tmp / "analytics.sqlite"),
        "admin_token": ADMIN_TOKEN,
        "article_links": "local",
        "related_exclude_categories": {"Treatment": ["News"]},
    }
    values.update(overrides)
    return load_settings(overrides=values, environ={}, look_in_cwd=False)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory) -> Path:
    """The sample site indexed once per session; tests that write copy it first."""
    root = tmp_path_factory.mktemp("sample")
    Indexer(make_settings(root)).build([SAMPLE])
    return root


@pytest.fixture
def sample_settings(sample_index) -> Settings:
    return make_settings(sample_index)


@pytest.fixture
def writable_sample(tmp_path, sample_index) -> Settings:
    """A private copy of the sample index, safe to upsert into and delete from."""
    shutil.copytree(sample_index / "index", tmp_path / "index", symlinks=True)
    return make_settings(tmp_path)


@pytest.fixture
def service(sample_settings):
    svc = SearchService(sample_settings)
    yield svc
    svc.close()


@pytest.fixture
def client(sample_settings):
    app = create_app(sample_settings)
    yield app.test_client()
    app.extensions["kindred.search"].close()


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
