"""Limits: every limit on what a client may ask is documented (docs/configuration.md, which
search/config.py generates, and the HTTP table in docs/reliability.md) and enforced with a
4xx JSON error, never a 500 and never a server's HTML page, also through gunicorn."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from urllib.parse import quote

import pytest

from indexer.build import Indexer
from search.article import MAX_BODY_CHARS, MAX_ID_CHARS, MAX_SHORT_FIELD_CHARS, MAX_TAGS
from search.config import Settings, reference_markdown
from tests.conftest import LIVE_MAX_BODY_BYTES
from tests.reliability.harness import ADMIN_TOKEN, SAMPLE, Http, reliability_settings
from web.app import create_app
from web.api import MAX_EVENT_BYTES

REPO = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# (name in docs/reliability.md, its default) for every limit of the HTTP API.
DEFAULTS = Settings()
HTTP_LIMITS = {
    "search_max_query_chars": DEFAULTS.search_max_query_chars,
    "search_max_page_size": DEFAULTS.search_max_page_size,
    "search_max_page": DEFAULTS.search_max_page,
    "search_max_phrases": DEFAULTS.search_max_phrases,
    "search_max_exclusions": DEFAULTS.search_max_exclusions,
    "search_timeout": DEFAULTS.search_timeout,
    "max_body_bytes": DEFAULTS.max_body_bytes,
    "max_batch_size": DEFAULTS.max_batch_size,
    "related_k": DEFAULTS.related_k,
    "suggest_max_limit": DEFAULTS.suggest_max_limit,
    "analytics_events_per_minute": DEFAULTS.analytics_events_per_minute,
    "event body": MAX_EVENT_BYTES,
    "request line": 8190,
    "article id": MAX_ID_CHARS,
    "article text field": MAX_SHORT_FIELD_CHARS,
    "article body": MAX_BODY_CHARS,
    "article tags": MAX_TAGS,
}
SETTINGS_LIMITS = [name for name in HTTP_LIMITS if name in {f for f in vars(DEFAULTS)}]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """An app with small limits, so each one is reached with small requests."""
    root = tmp_path_factory.mktemp("limits")
    # (search_page_size must not exceed search_max_page_size; search/config.py does not check that.)
    settings = reliability_settings(root, search_max_query_chars=50, search_page_size=5, search_max_page_size=5,
                                    search_max_page=3,
                                    max_body_bytes=5000, max_batch_size=3, related_k=6,
                                    related_limit=3)
    Indexer(settings).build([SAMPLE])
    app = create_app(settings)
    yield app.test_client()
    app.extensions["kindred.search"].close()


def json_error(response, status: int, code: str | None = None, mentions: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    if code:
        assert error["code"] == code, error
    if mentions:
        assert mentions in error["message"], error
    return error


def test_each_limit_answers_a_json_4xx_and_the_limit_itself_is_fine(small):
    ok = lambda r: r.status_code == 200  # noqa: E731
    assert ok(small.get("/api/v1/search?q=" + "k" * 50))
    json_error(small.get("/api/v1/search?q=" + "k" * 51), 400, "bad_request", "50 characters")
    assert ok(small.get("/api/v1/search?q=ketamine&per_page=5")) and ok(small.get("/api/v1/search?q=ketamine&limit=5"))
    for per_page in ("6", "0", "-1", "abc", "9" * 5000, "1e3"):
        json_error(small.get(f"/api/v1/search?q=ketamine&per_page={per_page}"), 400, "bad_request")
    json_error(small.get("/api/v1/search?q=ketamine&limit=6"), 400, "bad_request", "between 1 and 5")
    assert ok(small.get("/api/v1/search?q=ketamine&page=3"))
    for page in ("4", "0", "-5", "2.5", "9" * 5000):
        json_error(small.get(f"/api/v1/search?q=ketamine&page={page}"), 400, "bad_request")
    json_error(small.get("/api/v1/search?q=ketamine&sort=random"), 400, "bad_request", "sort")
    assert ok(small.get("/api/v1/suggest?q=ke&limit=20"))
    for limit in ("21", "0", "x"):
        json_error(small.get(f"/api/v1/suggest?q=ke&limit={limit}"), 400, "bad_request")
    assert ok(small.get("/api/v1/related/ketamine-addiction-treatment?limit=6"))
    for limit in ("7", "0", "x"):
        json_error(small.get(f"/api/v1/related/ketamine-addiction-treatment?limit={limit}"), 400, "bad_request")
    json_error(small.get("/api/v1/related?url=http://[broken&limit=2"), 400, "bad_request", "not a valid URL")

    articles = [{"id": f"lim-{i}", "title": f"Limit {i}"} for i in range(4)]
    assert ok(small.post("/api/v1/articles", json=articles[:3], headers=AUTH))
    json_error(small.post("/api/v1/articles", json=articles, headers=AUTH), 413, "batch_too_large", "at most 3")
    json_error(small.post("/api/v1/articles", json={"articles": articles}, headers=AUTH), 413, "batch_too_large")
    body = json.dumps([{"id": "big", "title": "Big", "body": "x" * 5000}])
    json_error(small.post("/api/v1/articles", data=body, content_type="application/json", headers=AUTH), 413,
               "request_entity_too_large")
    json_error(small.post("/api/v1/events", data="x" * (MAX_EVENT_BYTES + 1), content_type="text/plain"), 413,
               "too_large")
    json_error(small.post("/api/v1/articles", json={"id": "u", "title": "t", "url": "http://[x"}, headers=AUTH),
               422, "invalid_article", "not a valid URL")
    json_error(small.post("/api/v1/articles", data='{"id": "s", "title": "\\ud800"}', content_type="application/json",
                          headers=AUTH), 422, "invalid_article", "lone surrogate")
    for field, value in (("id", "i" * (MAX_ID_CHARS + 1)), ("title", "t" * (MAX_SHORT_FIELD_CHARS + 1)),
                         ("tags", ["t"] * (MAX_TAGS + 1)), ("url", "u" * (MAX_SHORT_FIELD_CHARS + 1))):
        article = {"id": "field-limit", "title": "Field limit", field: value}
        json_error(small.post("/api/v1/articles", json=article, headers=AUTH), 422, "invalid_article", field)
    json_error(small.put("/api/v1/search"), 405)
    json_error(small.get("/api/v1/nothing"), 404, "not_found")


def test_limits_are_documented():
    configuration = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    generated = {line.split("|")[1].strip(): line for line in reference_markdown().splitlines() if line.startswith("| `")}
    reliability = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    for name in SETTINGS_LIMITS:
        # The row search/config.py generates for the limit, as docs/configuration.md has it (`make docs`).
        assert generated[f"`{name}`"] in configuration.splitlines(), f"docs/configuration.md: {name} is stale"
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `?([^|`]+?)`? \| ([^|]+) \|", reliability, re.M)}
    for name, default in HTTP_LIMITS.items():
        assert name in rows, f"docs/reliability.md lists no limit {name!r}"
        assert f"{default:,}" in rows[name] or str(default) in rows[name], (name, rows[name])


# Through gunicorn ------------------------------------------------------------------------------


def raw_request(port: int, head: bytes, chunks: list[bytes] = ()) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        data = head
        for chunk in chunks:
            data += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        if chunks:
            data += b"0\r\n\r\n"
        sock.sendall(data)
        received = b""
        while True:
            part = sock.recv(65536)
            if not part:
                break
            received += part
    head_part, _, body = received.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_limits_hold_through_gunicorn(live):
    http = Http(live.server.url, ADMIN_TOKEN)
    limit = live.settings.search_max_query_chars
    # A query at the limit in two-byte letters (6 bytes each, URL-encoded) reaches Kindred ...
    status, body = http.json("GET", "/api/v1/search?q=" + quote("é" * limit))
    assert status == 200 and body["total"] >= 0
    # ... and one character more gets Kindred's JSON 400, not gunicorn's HTML 414.
    status, headers, raw = http.request("GET", "/api/v1/search?q=" + quote("é" * (limit + 1)))
    assert status == 400 and headers["content-type"] == "application/json", raw[:200]
    assert "longer than" in json.loads(raw)["error"]["message"]

    # A chunked body (no Content-Length) over max_body_bytes: 413 JSON, like a declared one.
    head = (b"POST /api/v1/articles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    article = json.dumps([{"id": "chunky", "title": "Chunked", "body": "a" * LIVE_MAX_BODY_BYTES}]).encode()
    status, headers, raw = raw_request(live.server.port, head, [article[i:i + 8192] for i in range(0, len(article), 8192)])
    assert status == 413 and headers["content-type"] == "application/json", raw[:200]
    assert json.loads(raw)["error"]["code"] == "request_entity_too_large"
    small = json.dumps([{"id": "chunky", "title": "Chunked small"}]).encode()
    status, _, raw = raw_request(live.server.port, head, [small])
    assert status == 200, raw[:200]
    status, _, raw = http.request("DELETE", "/api/v1/articles/chunky", auth=True)
    assert status == 200

    status, headers, raw = http.request("POST", "/api/v1/articles", body=b"[" + b" " * LIVE_MAX_BODY_BYTES + b"]",
                                        auth=True)
    assert status == 413 and headers["content-type"] == "application/json"
    status, headers, raw = http.request("POST", "/api/v1/articles", body=[{"id": f"b{i}", "title": "t"} for i in range(501)],
                                        auth=True)
    assert status == 413 and json.loads(raw)["error"]["code"] == "batch_too_large"
