"""docs/nginx/kindred.conf, run for real: nginx in front of `kindred serve` (gunicorn).

The sample site is indexed into a temp dir and served by `python -m kindred serve` on a free
port; nginx runs the documented config unchanged except for the upstream port and the listen
port, inside a minimal top-level config whose pid, logs and temp files stay in the temp dir.
A missing nginx fails this test (`make test` installs it), it never skips.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser.servers import KindredServer, build_sample_index, sample_site_settings
from tests.nginx import Nginx, nginx_binary

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "docs" / "nginx" / "kindred.conf"
DOCUMENTED_UPSTREAM = "server 127.0.0.1:8000;"
DOCUMENTED_LISTEN = "listen 80;"
ARTICLE = "does-weed-have-calories"

pytestmark = pytest.mark.slow


def site_config(upstream_port: int, listen_port: int) -> str:
    """docs/nginx/kindred.conf with only its two ports changed."""
    text = CONFIG.read_text(encoding="utf-8")
    assert text.count(DOCUMENTED_UPSTREAM) == 1, "the documented upstream line moved"
    assert text.count(DOCUMENTED_LISTEN) == 1, "the documented listen line moved"
    text = text.replace(DOCUMENTED_UPSTREAM, f"server 127.0.0.1:{upstream_port};")
    return text.replace(DOCUMENTED_LISTEN, f"listen {listen_port};")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    binary = nginx_binary()
    root = tmp_path_factory.mktemp("deploy")
    settings = build_sample_index(sample_site_settings(root))
    kindred = KindredServer(settings, root / "kindred").start()
    try:
        nginx = Nginx(binary, root / "nginx", lambda port: site_config(kindred.port, port)).start()
    except BaseException:
        kindred.stop()
        raise
    yield nginx, kindred
    try:
        nginx.stop()
    finally:
        kindred.stop()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:  # 304 and 4xx arrive as errors
        with error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_search_page_through_nginx(stack):
    nginx, _ = stack
    status, headers, body = get(f"{nginx.url}/search?q=molly")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert "nginx" in headers.get("server", "")
    page = body.decode()
    assert "MDMA" in page and "Kindred Health" in page
    assert headers.get("x-frame-options") == "DENY"


def test_search_api_json_through_nginx(stack):
    nginx, _ = stack
    status, headers, body = get(f"{nginx.url}/api/v1/search?q=ketamine")
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    data = json.loads(body)
    assert data["total"] >= 3
    assert data["hits"][0]["id"].startswith("ketamine")
    # Host passes through with its port: links point at nginx, not at gunicorn's port.
    assert data["hits"][0]["url"].startswith(f"{nginx.url}/articles/")


def test_widget_script_with_cors_and_caching(stack):
    nginx, _ = stack
    status, headers, body = get(f"{nginx.url}/widget.js", {"Origin": "https://blog.example.org"})
    assert status == 200
    assert b"data-kindred-related" in body
    assert headers["access-control-allow-origin"] == "*"
    assert re.fullmatch(r"public, max-age=\d+", headers["cache-control"])
    assert "javascript" in headers["content-type"]


def test_static_files_get_caching_headers(stack):
    nginx, _ = stack
    status, headers, body = get(f"{nginx.url}/static/kindred.css")
    assert status == 200 and body
    assert headers["cache-control"] == "public, max-age=3600"


def test_related_api_etag_and_revalidation(stack):
    nginx, _ = stack
    url = f"{nginx.url}/api/v1/related/{ARTICLE}?limit=3"
    status, headers, body = get(url, {"Origin": "https://blog.example.org"})
    assert status == 200
    data = json.loads(body)
    assert data["id"] == ARTICLE and len(data["related"]) == 3
    assert headers["access-control-allow-origin"] == "*"
    etag = headers["etag"]
    assert etag
    status, headers, body = get(url, {"If-None-Match": etag})
    assert status == 304
    assert body == b""
    assert headers["etag"] == etag


def test_metrics_and_health_through_nginx(stack):
    nginx, _ = stack
    status, _, body = get(f"{nginx.url}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, _, body = get(f"{nginx.url}/metrics")  # allowed from 127.0.0.1
    assert status == 200 and b"kindred_index_documents" in body
