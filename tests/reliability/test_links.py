"""Links to articles whose ids are not plain words (issue 14, items 10 and 11).

Every link Kindred makes to an article (search page, API hits, related items, suggestions,
the article API, the iframe widget, the script widget's API URL, the admin pages) is
followed as a browser would follow it (dot segments resolved) and must land on that same
article; ids no URL path can carry ("." and "..") are refused when written. Image URLs
that would run code are never handed out."""

from __future__ import annotations

import json
from urllib.parse import quote, urljoin, urlsplit

import pytest
from selectolax.lexbor import LexborHTMLParser

from indexer.build import Indexer
from tests.conftest import sign_in
from tests.reliability.harness import ADMIN_TOKEN, reliability_settings, write_jsonl
from web.app import create_app

WORD = "quillwort"  # every article below has it, so one search lists them all and they relate
HOSTILE_IDS = ("a?b=c", "a#frag", "50%2F50", "./dot-slash", "a/./b", "../admin/analytics", "..x", "a/b",
               "trailing/", "a//b", "100% pure", "a b+c&d=e", "café", "semi;colon", "back\\slash", "x%",
               "%2e%2e", "/leading")
DANGEROUS_IMAGES = ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
                    " JaVaScRiPt:alert(1)")


def js_encode_uri_component(value: str) -> str:
    """What widget.js does with an id: JavaScript's encodeURIComponent."""
    return quote(value, safe="-_.!~*'()")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("links")
    settings = reliability_settings(root, article_links="source")
    articles = [{"id": article_id, "title": f"Title {index} {WORD}", "body": f"{WORD} fern spores {index}",
                 "image": DANGEROUS_IMAGES[index % len(DANGEROUS_IMAGES)], "category": "Ferns"}
                for index, article_id in enumerate(HOSTILE_IDS)]
    Indexer(settings).build([write_jsonl(root / "ids.jsonl", articles)])
    app = create_app(settings)
    yield app
    app.extensions["kindred.search"].close()


def titles() -> dict[str, str]:
    return {article_id: f"Title {index} {WORD}" for index, article_id in enumerate(HOSTILE_IDS)}


def follow(client, page: str, href: str):
    """GET the link as a browser would from `page`: resolved, dot segments removed."""
    resolved = urlsplit(urljoin(page, href))
    assert resolved.netloc in ("", "localhost"), href
    return client.get(resolved.path + (f"?{resolved.query}" if resolved.query else ""))


def lands_on(response, article_id: str) -> bool:
    """The article's page or API answer, or its related-articles widget."""
    if response.status_code != 200:
        return False
    if response.mimetype == "application/json":
        return response.get_json()["id"] == article_id
    tree = LexborHTMLParser(response.get_data(as_text=True))
    widget = tree.css_first("[data-source]")
    return widget.attributes["data-source"] == article_id if widget else titles()[article_id] in tree.text()


def test_every_link_to_an_article_lands_on_it(site):
    client = site.test_client()
    wrong = []

    def check(surface: str, page: str, href: str | None, article_id: str) -> None:
        if not href or not lands_on(follow(client, page, href), article_id):
            wrong.append((surface, article_id, href))

    page = f"http://localhost/search?q={WORD}&per_page=50"
    tree = LexborHTMLParser(client.get(page).get_data(as_text=True))
    hrefs = {a.attributes["data-kindred-target"]: a.attributes["href"] for a in tree.css("ol.hits h2 a")}
    assert set(hrefs) == set(HOSTILE_IDS)
    for article_id, href in hrefs.items():
        check("search page", page, href, article_id)

    for hit in client.get(f"/api/v1/search?q={WORD}&per_page=50").get_json()["hits"]:
        check("API hit url", "http://localhost/api/v1/search", hit["url"], hit["id"])

    for article_id in HOSTILE_IDS:
        encoded = quote(article_id, safe="")
        article = client.get(f"/api/v1/articles/{encoded}").get_json()
        check("API article url", "http://localhost/", article["url"], article_id)
        page = f"http://localhost/articles/{encoded}"
        check("article page", page, page, article_id)
        # The script widget asks the API for the id the page names, as widget.js builds it.
        host = LexborHTMLParser(client.get(page).get_data(as_text=True)).css_first("[data-kindred-related]")
        named = host.attributes["data-kindred-related"]
        check("widget.js API URL", page, f"/api/v1/related/{js_encode_uri_component(named)}?limit=3", article_id)
        frame = LexborHTMLParser(client.get(page).get_data(as_text=True)).css_first("noscript iframe")
        iframe_src = frame.attributes["src"] if frame else None
        check("iframe widget src", page, iframe_src, article_id)
        related = client.get(f"/api/v1/related/{encoded}?limit=20").get_json()["related"]
        for item in related:
            check("API related url", "http://localhost/", item["url"], item["id"])
        widget = f"http://localhost/widget/related/{encoded}?limit=20"
        for a in LexborHTMLParser(client.get(widget).get_data(as_text=True)).css("a[data-kindred-target]"):
            check("iframe widget link", widget, a.attributes["href"], a.attributes["data-kindred-target"])

    for suggestion in client.get("/api/v1/suggest?q=title&limit=20").get_json()["suggestions"]:
        if suggestion["kind"] == "article":
            check("suggestion url", "http://localhost/", suggestion["url"], suggestion["id"])

    assert not wrong, wrong


def test_admin_related_pages_link_to_their_article(site):
    client = site.test_client()
    assert sign_in(client, ADMIN_TOKEN).status_code == 302
    for article_id in HOSTILE_IDS:
        response = client.get(f"/admin/related/{quote(article_id, safe='')}")
        assert response.status_code == 200 and titles()[article_id] in response.get_data(as_text=True), article_id


@pytest.mark.parametrize("article_id", [".", "..", " .. ", "\u3000."])
def test_ids_no_path_can_carry_are_refused(site, article_id):
    response = site.test_client().post("/api/v1/articles", data=json.dumps({"id": article_id, "title": "Dots"}),
                                       content_type="application/json",
                                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 422 and "no link could point at it" in response.get_json()["error"]["message"]


def test_article_api_never_hands_out_a_script_image(site):
    client = site.test_client()
    for article_id in HOSTILE_IDS:
        image = client.get(f"/api/v1/articles/{quote(article_id, safe='')}").get_json()["image"]
        assert image == "", (article_id, image)
