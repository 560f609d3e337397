"""The fast path (web/fast_path.py) answers exactly as the app does: the legacy prefix /api/...
is served by the app itself, so the two are compared header by header, and everything the
fast path leaves alone still gets the app's answer."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import make_settings
from web.app import create_app

ARTICLE = "does-weed-have-calories"


def comparable(response) -> tuple:
    headers = {k: v for k, v in response.headers.items() if k not in ("Date",)}
    return response.status_code, headers, response.data


@pytest.fixture
def client(writable_sample):
    """A private copy of the sample index: its shared response cache starts empty."""
    return create_app(writable_sample).test_client()


@pytest.mark.parametrize("query", ["", "?limit=1", "?limit=3", "?limit=20"])
@pytest.mark.parametrize("host", ["localhost", "news.example:8080"])
def test_the_stored_list_is_answered_as_the_app_answers_it(client, query, host):
    fast = client.get(f"/api/v1/related/{ARTICLE}{query}", headers={"Host": host})
    app = client.get(f"/api/related/{ARTICLE}{query}", headers={"Host": host})
    assert fast.status_code == 200 and fast.get_json()["related"]
    assert comparable(fast) == comparable(app)
    assert all(item["url"].startswith(f"http://{host}/") for item in fast.get_json()["related"])
    again = client.get(f"/api/v1/related/{ARTICLE}{query}", headers={"Host": host,
                                                                       "If-None-Match": fast.headers["ETag"]})
    app_again = client.get(f"/api/related/{ARTICLE}{query}", headers={"Host": host,
                                                                       "If-None-Match": app.headers["ETag"]})
    assert again.status_code == 304 and comparable(again) == comparable(app_again)


@pytest.mark.parametrize("path", [
    "/api/v1/related/no-such-article", "/api/v1/related/does-weed-have-calories?limit=0",
    "/api/v1/related/does-weed-have-calories?limit=abc", "/api/v1/related/does-weed-have-calories?limit=21",
    "/api/v1/related/does-weed-have-calories?limit=2&callback=x",
])
def test_what_the_fast_path_leaves_alone_gets_the_apps_answer(client, path):
    fast = client.get(path)
    app = client.get(path.replace("/api/v1/", "/api/"))
    assert fast.status_code in (200, 400, 404) and comparable(fast) == comparable(app)


def test_a_preflight_and_a_site_with_its_own_origins_go_to_the_app(sample_index, tmp_path):
    shutil.copytree(sample_index / "index", tmp_path / "index", symlinks=True)
    client = create_app(make_settings(tmp_path, cors_origins=["https://pub.example"])).test_client()
    allowed = client.get(f"/api/v1/related/{ARTICLE}", headers={"Origin": "https://pub.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://pub.example"
    assert "Origin" in allowed.headers["Vary"]
    refused = client.get(f"/api/v1/related/{ARTICLE}", headers={"Origin": "https://other.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers
    preflight = client.options(f"/api/v1/related/{ARTICLE}", headers={
        "Origin": "https://pub.example", "Access-Control-Request-Method": "GET"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://pub.example"


def test_a_site_url_makes_the_links_and_drops_vary_host(sample_index, tmp_path):
    shutil.copytree(sample_index / "index", tmp_path / "index", symlinks=True)
    client = create_app(make_settings(tmp_path, site_url="https://health.example/")).test_client()
    fast = client.get(f"/api/v1/related/{ARTICLE}", headers={"Host": "evil.example"})
    assert comparable(fast) == comparable(client.get(f"/api/related/{ARTICLE}", headers={"Host": "evil.example"}))
    assert "Vary" not in fast.headers
    assert all(item["url"].startswith("https://health.example/") for item in fast.get_json()["related"])


def test_fast_answers_are_counted_in_the_metrics(client):
    for _ in range(3):
        assert client.get(f"/api/v1/related/{ARTICLE}").status_code == 200
    scrape = client.get("/metrics").get_data(as_text=True)
    counted = [line for line in scrape.splitlines() if line.startswith("kindred_http_requests_total{")
               and 'endpoint="api.related"' in line and 'status="200"' in line]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 3


def test_the_common_request_never_reaches_the_apps_view(client, monkeypatch):
    from web import api

    def refuse(*args, **kwargs):
        raise AssertionError("the app's view was asked")

    monkeypatch.setattr(api, "_related_response", refuse)
    assert client.get(f"/api/v1/related/{ARTICLE}?limit=2").get_json()["related"]
    assert client.get(f"/api/related/{ARTICLE}?limit=2").status_code == 500  # the app's own route asks it


SEARCHES = ["?q=ketamine", "?q=weed&per_page=3&page=2", "?q=cannabis&category=Cannabis&facets=false",
            "?q=overdose&sort=date"]


@pytest.mark.parametrize("query", SEARCHES)
def test_a_search_already_answered_is_answered_as_the_app_answers_it(client, query):
    first = client.get(f"/api/v1/search{query}")  # the app searches and keeps the answer
    assert first.headers["X-Kindred-Cache"] == "miss"
    fast = client.get(f"/api/v1/search{query}")
    app = client.get(f"/api/search{query}")
    assert fast.headers["X-Kindred-Cache"] == app.headers["X-Kindred-Cache"] == "hit"
    assert comparable(fast) == comparable(app) and fast.get_json() == first.get_json()


def test_a_cached_search_still_counts_for_analytics(writable_sample):
    app = create_app(writable_sample)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/v1/search?q=naloxone").status_code == 200
    app.extensions["kindred.analytics"].flush()
    from analytics.databases import EventDatabases
    from analytics.report import build_report

    report = build_report(EventDatabases(writable_sample.resolve(writable_sample.analytics_db), ()))
    assert {r["query"]: r["searches"] for r in report["top_queries"]}["naloxone"] == 3


@pytest.mark.parametrize("query", ["?q=ketamine&page=0", "?q=ketamine&exact=maybe", "?q=ketamine&per_page=500"])
def test_a_search_the_app_refuses_is_refused_by_the_app(client, query):
    fast, app = client.get(f"/api/v1/search{query}"), client.get(f"/api/search{query}")
    assert fast.status_code == 400 and comparable(fast) == comparable(app)


def test_a_cached_search_never_reaches_the_apps_view(client, monkeypatch):
    from web import api

    assert client.get("/api/v1/search?q=ketamine").status_code == 200

    def refuse(*args, **kwargs):
        raise AssertionError("the app's view was asked")

    monkeypatch.setattr(api, "search_service", refuse)
    assert client.get("/api/v1/search?q=ketamine").get_json()["total"] > 0
    assert client.get("/api/search?q=ketamine").status_code == 500  # the app's own route asks it
