"""The Flask app through its real test client: pages, API, widget, admin, caching."""

from __future__ import annotations

from web.app import create_app
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
    client = create_app(sample_settings.replace(admin_token="", replication_token="")).test_client()
    response = client.post("/api/v1/articles", json={}, headers={"Authorization": "Bearer "})
    assert response.status_code == 403
    # Without the header it is a 401 whether or not the token is set, as /openapi.json says.
    assert client.post("/api/v1/articles", json={}).status_code == 401
    assert client.delete("/api/v1/articles/x").status_code == 401
    assert client.get("/api/v1/versions/v.0/archive").status_code == 401
    assert client.get("/api/v1/versions/v.0/archive", headers={"Authorization": "Bearer x"}).status_code == 403


def test_unknown_routes_and_methods(client):
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"
    response = client.put("/api/v1/search")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert "Page not found" in client.get("/nothing").get_data(as_text=True)


# Autocomplete and empty results ----------------------------------------------------------------

MOLD_SITE = [
    {"id": "mold-grow-room", "title": "Mold in the Grow Room", "body": "Mold grows where air is still. Mold spores."},
    {"id": "mold-basics", "title": "Mold and Mildew Basics", "body": "Mold and mildew on plants: how mold spreads."},
    {"id": "moldy-buds", "title": "Moldy Buds: Smoke or Toss?", "body": "Moldy buds can carry mold spores."},
    {"id": "molly-guide", "title": "What Is Molly?", "body": "Molly is sold as pure MDMA but often is not."},
    {"id": "cbd-basics", "title": "CBD Basics", "body": "CBD comes from hemp and does not make you high."},
]


def test_autocomplete_ranks_the_sites_vocabulary_then_what_readers_choose(tmp_path):
    """`mol` on a drug-information site: "molly" (in the synonyms file) comes before the
    more frequent "mold"; among other words and among titles, what more readers searched
    and clicked comes first (a scripted analytics history)."""
    from indexer.build import Indexer
    from tests.conftest import make_settings, write_jsonl

    settings = make_settings(tmp_path)
    Indexer(settings).build([write_jsonl(tmp_path / "mold.jsonl", MOLD_SITE)])
    history = create_app(settings)
    client = history.test_client()
    for reader in range(3):
        address = {"REMOTE_ADDR": f"198.51.100.{reader}"}
        assert client.get("/api/v1/search?q=moldy buds", environ_base=address).get_json()["total"] > 0
        client.post("/api/v1/events", json={"type": "result_click", "query": "moldy buds", "target": "moldy-buds",
                                            "position": 1}, environ_base=address)
    client.get("/api/v1/search?q=mold", environ_base={"REMOTE_ADDR": "198.51.100.9"})  # one reader only
    history.extensions["kindred.analytics"].flush()

    suggestions = create_app(settings).test_client().get("/api/v1/suggest?q=mol&limit=10").get_json()["suggestions"]
    words = [s["text"] for s in suggestions if s["kind"] == "query"]
    titles = [s["id"] for s in suggestions if s["kind"] == "article"]
    assert words[:3] == ["molly", "moldy", "mold"], words
    assert titles[0] == "moldy-buds", titles


def test_no_results_page_offers_articles_about_the_nearest_words(client):
    for query, expected in (("mdm", "MDMA (Ecstasy, Molly): Effects and Risks"),
                            ("naloxonekits", "How to Respond to an Opioid Overdose With Naloxone"),
                            ("ketaminetherapy", "Ketamine for Addiction Treatment: What the Research Shows")):
        html = client.get("/search", query_string={"q": query}).get_data(as_text=True)
        assert "No results" in html and "You might be looking for" in html, query
        offered = html[html.index("You might be looking for"):]
        assert expected in offered, (query, offered[:500])
    latest = client.get("/").get_data(as_text=True)
    nothing_near = client.get("/search?q=zzyzx qqvqq").get_data(as_text=True)
    assert "Latest articles" in latest and "You might be looking for" in nothing_near
    first_latest = latest[latest.index("Latest articles"):].split('<span class="card-title">')[1].split("<")[0]
    assert first_latest in nothing_near  # nothing near: the newest, as before
