"""The Flask app through its real test client: pages, API, widget, admin, caching."""

from __future__ import annotations

from web import create_app
from tests.conftest import ADMIN_TOKEN


def test_search_api_returns_ranked_highlighted_hits(client):
    data = client.get("/api/search?q=ketamine").get_json()
    assert data["total"] == 3
    assert all("ketamine" in h["id"] for h in data["hits"])
    assert "<mark>" in data["hits"][0]["snippet"]
    assert data["hits"][0]["url"].startswith("http://localhost/articles/")
    assert client.get("/api/v1/search?q=ketamine").get_json()["total"] == 3


def test_search_api_rejects_over_limit_input_with_json_errors(client):
    response = client.get("/api/v1/search?q=" + "x" * 5000)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    assert client.get("/api/v1/search?q=weed&page=abc").status_code == 400
    assert client.get("/api/v1/search?q=weed&per_page=500").status_code == 400


def test_search_page_works_without_javascript(client):
    html = client.get("/search?q=molly").get_data(as_text=True)
    assert "MDMA" in html and "<mark>" in html
    assert 'action="/search"' in html and 'name="q"' in html


def test_correction_banner_and_facets_on_the_page(client):
    html = client.get("/search?q=ketamin").get_data(as_text=True)
    assert "Showing results for" in html and "search instead for" in html
    html = client.get("/search?q=overdose").get_data(as_text=True)
    assert "Need help right now?" in html and 'href="tel:988"' in html
    html = client.get("/search?q=cannabis").get_data(as_text=True)
    assert "category=cannabis" in html


def test_everything_reader_visible_is_escaped(client):
    html = client.get('/search?q=<script>alert("x")</script>').get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html or "&#34;" in html or "alert" not in html


def test_related_api_and_etag_revalidation(client):
    response = client.get("/api/related/ketamine-addiction-treatment")
    data = response.get_json()
    assert data["id"] == "ketamine-addiction-treatment" and len(data["related"]) == 5
    first = data["related"][0]
    assert {"id", "title", "url", "score", "teaser", "kind", "why"} <= set(first)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    etag = response.headers["ETag"]
    again = client.get("/api/v1/related/ketamine-addiction-treatment", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert client.get("/api/v1/related/nope").status_code == 404


def test_related_by_url(client):
    data = client.get("/api/v1/related?url=https://example.org/articles/does-weed-have-calories").get_json()
    assert data["id"] == "does-weed-have-calories"


def test_widget_fragment_has_teasers_and_links(client):
    response = client.get("/widget/related/does-weed-have-calories")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Related articles" in html
    assert html.count("data-kindred-target=") == 5
    assert "\u2026" in html or "</span>" in html
    assert client.get("/widget/related/does-weed-have-calories", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


def test_article_page_embeds_the_public_widget(client):
    html = client.get("/articles/ketamine-addiction-treatment").get_data(as_text=True)
    assert 'data-kindred-related="ketamine-addiction-treatment"' in html
    assert 'src="/widget.js"' in html
    assert client.get("/articles/nope").status_code == 404


def test_widget_script_is_served_cross_origin(client):
    response = client.get("/widget.js")
    assert response.status_code == 200 and "attachShadow" in response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_healthz(client):
    data = client.get("/healthz").get_json()
    assert data["status"] == "ok" and data["doc_count"] >= 48 and data["version"]


def test_admin_endpoints_need_the_token(writable_sample):
    client = create_app(writable_sample).test_client()
    article = {"id": "new-naloxone", "title": "Naloxone in schools", "body": "Naloxone kits in schools."}
    assert client.post("/api/v1/articles", json=article).status_code == 401
    assert client.post("/api/v1/articles", json=article, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.delete("/api/v1/articles/new-naloxone").status_code == 401
    assert client.post("/api/v1/reindex").status_code == 401
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = client.post("/api/v1/articles", json=article, headers=auth)
    assert created.status_code == 200 and created.get_json()["upserted"] == 1
    assert "new-naloxone" in [h["id"] for h in client.get("/api/v1/search?q=naloxone schools").get_json()["hits"]]
    assert client.get("/api/v1/related/new-naloxone").status_code == 200
    invalid = client.put("/api/v1/articles", json=[article, {"id": "x"}], headers=auth)
    assert invalid.status_code == 422 and "title" in invalid.get_json()["error"]["message"]
    assert client.delete("/api/v1/articles/new-naloxone", headers=auth).get_json()["deleted"] == 1
    assert client.delete("/api/v1/articles/new-naloxone", headers=auth).status_code == 404
    assert client.get("/api/v1/articles/new-naloxone").status_code == 404


def test_admin_is_disabled_without_a_configured_token(sample_settings):
    client = create_app(sample_settings.replace(admin_token="")).test_client()
    response = client.post("/api/v1/articles", json={}, headers={"Authorization": "Bearer "})
    assert response.status_code == 403


def test_unknown_routes_and_methods(client):
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"
    response = client.put("/api/v1/search")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert "Page not found" in client.get("/nothing").get_data(as_text=True)
