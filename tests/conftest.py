"""Shared fixtures: real indexes in temp dirs, a real Flask app, the real sample site."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

from indexer.build import Indexer
from search.config import Settings, load_settings
from search.service import SearchService
from web.app import create_app

if TYPE_CHECKING:
    from tests.browser.servers import KindredServer

# `make fuzz` runs the fuzz tests with `--hypothesis-profile=fuzz`: they scale their example
# counts from the profile's max_examples (Hypothesis's default, 100, in CI). See
# tests/reliability/fuzzing.py and docs/reliability.md.
hypothesis_settings.register_profile("fuzz", max_examples=10_000)

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
        "admin_db": str(tmp / "admin.sqlite"),
        "admin_token": ADMIN_TOKEN,
        "article_links": "local",
        "related_exclude_categories": {"Treatment": ["News"]},
    }
    values.update(overrides)
    return load_settings(overrides=values, environ={}, look_in_cwd=False)


def sign_in(client, token: str = ADMIN_TOKEN, next_path: str | None = None, **options):
    """Sign in through the form as a browser does: fetch it for its CSRF token, then post."""
    form = client.get("/admin/login", **options).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    url = "/admin/login" + (f"?next={quote(next_path, safe='')}" if next_path is not None else "")
    return client.post(url, data={"token": token, "csrf_token": csrf}, **options)


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


LIVE_MAX_BODY_BYTES = 100_000


@dataclasses.dataclass
class LiveSite:
    settings: Settings
    server: "KindredServer"
    root: Path


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> LiveSite:
    """A real `kindred serve` (gunicorn, 2 workers) on 127.0.0.1 for the checks that need HTTP
    for real (XSS in Chromium, killed builds, limits, the soak): the sample site plus articles
    full of script payloads with javascript: urls (tests/reliability/payloads.py), article_links
    `source`, an admin token. Tests that change it (the soak, the crash rounds) keep it valid."""
    from tests.browser.servers import KindredServer
    from tests.reliability.harness import reliability_settings
    from tests.reliability.payloads import FLAG_PAYLOADS, PAYLOADS, payload_articles

    root = tmp_path_factory.mktemp("live")
    xss = write_jsonl(root / "xss.jsonl", payload_articles(FLAG_PAYLOADS + PAYLOADS))
    # trusted_proxies: requests may stand for readers behind a proxy (X-Forwarded-For).
    settings = reliability_settings(root, article_links="source", max_body_bytes=LIVE_MAX_BODY_BYTES,
                                    trusted_proxies=1, write_timeout=30, sources=[str(SAMPLE), str(xss)])
    Indexer(settings).build([SAMPLE, xss])
    server = KindredServer(settings, root, workers=2, startup_timeout=60).start()
    yield LiveSite(settings, server, root)
    server.stop(graceful=False)
