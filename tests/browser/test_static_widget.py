"""The widget rendered from `kindred export --static` files, served by nginx with the documented
config (docs/nginx/kindred-static.conf), on a third-party page, with the Kindred server
stopped; and, for contrast, the live form on the same page with Kindred running."""

from __future__ import annotations

import dataclasses
import html
import json
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, Route, expect

from indexer.build import Indexer
from search.config import Settings
from tests.browser.servers import SAMPLE, SECOND_ARTICLE, URL_ARTICLE_URL, WIDGET_ARTICLE, KindredServer, ThirdPartySite
from tests.conftest import make_settings, write_jsonl
from tests.nginx import Nginx, nginx_binary
from tests.test_export import site_config
from web.app import create_app
from web.export import export_static

pytestmark = pytest.mark.browser

SITE_URL = "https://health.example.org/"
# An id a file name or URL cannot hold as it is.
HOSTILE_ID = "Guides/Naloxone?kit=1#how 100%"
HOSTILE_ARTICLE = {
    "id": HOSTILE_ID, "title": "How to use a naloxone kit", "category": "Harm Reduction",
    "body": "Naloxone reverses an opioid overdose, including fentanyl. Call emergency services, give naloxone, "
            "and stay with the person: an overdose can return when naloxone wears off.",
}


@dataclasses.dataclass
class Stack:
    settings: Settings
    kindred: KindredServer
    nginx: Nginx
    site: ThirdPartySite
    expected: dict  # (id or URL, limit) -> related items, from the app the export was made from

    def titles(self, key: tuple) -> list[str]:
        return [item["title"] for item in self.expected[key]]


def static_page(base: str) -> str:
    """Four widgets from the export (the static base on the script tag) and the iframe form."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Static widget</title></head>
<body>
  <div id="by-id" data-kindred-related="{WIDGET_ARTICLE}"></div>
  <div id="limited" data-kindred-related="{SECOND_ARTICLE}" data-kindred-limit="3" data-kindred-title="Read next"></div>
  <div id="hostile" data-kindred-related="{html.escape(HOSTILE_ID)}"></div>
  <div id="by-url" data-kindred-related-url="{html.escape(URL_ARTICLE_URL)}"></div>
  <div id="bad-api" data-kindred-related="{WIDGET_ARTICLE}" data-kindred-api="http://["></div>
  <iframe id="frame" title="Related articles" src="{base}latest/widget/related/{WIDGET_ARTICLE}.html"
          width="100%" height="200" style="border:0"></iframe>
  <script async src="{base}widget.js" data-kindred-base="{base}"></script>
</body></html>
"""


def element_page(base: str) -> str:
    """The static base on the element instead of the script tag."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Static widget</title></head>
<body>
  <div id="by-id" data-kindred-related="{WIDGET_ARTICLE}" data-kindred-base="{base}"></div>
  <script async src="{base}widget.js"></script>
</body></html>
"""


def reporting_page(base: str, kindred_url: str) -> str:
    """Lists from the export, beacons to a live Kindred."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Static widget</title></head>
<body>
  <div id="by-id" data-kindred-related="{WIDGET_ARTICLE}"></div>
  <script async src="{base}widget.js" data-kindred-base="{base}" data-kindred-api="{kindred_url}"></script>
</body></html>
"""


def live_page(kindred_url: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Live widget</title></head>
<body>
  <div id="live" data-kindred-related="{WIDGET_ARTICLE}"></div>
  <script async src="{kindred_url}/widget.js"></script>
</body></html>
"""


def expected_lists(settings: Settings) -> dict:
    app = create_app(settings)
    client = app.test_client()
    found = {}
    for key, path in (((WIDGET_ARTICLE, 5), f"/api/v1/related/{WIDGET_ARTICLE}"),
                      ((SECOND_ARTICLE, 3), f"/api/v1/related/{SECOND_ARTICLE}?limit=3"),
                      ((HOSTILE_ID, 5), f"/api/v1/related/{quote(HOSTILE_ID, safe='')}"),
                      ((URL_ARTICLE_URL, 5), f"/api/v1/related?url={quote(URL_ARTICLE_URL, safe='')}")):
        response = client.get(path)
        assert response.status_code == 200, path
        found[key] = response.get_json()["related"]
    app.extensions["kindred.search"].close()
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    root = tmp_path_factory.mktemp("static-widget")
    settings = make_settings(root, site_name="Kindred Health", site_url=SITE_URL)
    Indexer(settings).build([SAMPLE, write_jsonl(root / "hostile.jsonl", [HOSTILE_ARTICLE])])
    export_static(settings, root / "static")
    nginx = Nginx(nginx_binary(), root / "nginx", lambda port: site_config(root / "static", port)).start()
    kindred = KindredServer(settings, root / "kindred")
    base = nginx.url + "/"
    site = ThirdPartySite(root / "site", {"static.html": static_page(base), "element.html": element_page(base),
                                          "reporting.html": reporting_page(base, kindred.url),
                                          "live.html": live_page(kindred.url)}).start()
    yield Stack(settings, kindred, nginx, site, expected_lists(settings))
    site.stop()
    kindred.stop()
    nginx.stop()


@pytest.fixture
def browser_context_args() -> dict:
    """No base_url: these pages are on their own servers, so the session's Kindred is not needed."""
    return {}


def titles(page: Page, host: str) -> list[str]:
    expect(page.locator(host)).to_have_attribute("data-kindred-state", "ready")
    return page.locator(f"{host} >> css=strong").all_inner_texts()


def test_widget_renders_from_the_export_with_kindred_stopped(page: Page, stack: Stack):
    stack.kindred.stop()
    requests = []
    page.on("request", lambda r: requests.append((r.method, r.url)))
    page.goto(stack.site.url + "/static.html")

    assert titles(page, "#by-id") == stack.titles((WIDGET_ARTICLE, 5))
    assert titles(page, "#limited") == stack.titles((SECOND_ARTICLE, 3))
    expect(page.locator("#limited >> css=h2")).to_have_text("Read next")
    assert titles(page, "#hostile") == stack.titles((HOSTILE_ID, 5))
    assert titles(page, "#by-url") == stack.titles((URL_ARTICLE_URL, 5))
    expect(page.locator("#bad-api")).to_have_attribute("data-kindred-state", "error")  # a malformed URL
    links = page.locator("#by-id >> css=a")
    assert all(href.startswith(SITE_URL) for href in (links.nth(i).get_attribute("href") for i in range(5)))

    # The iframe form from the export, styled by the export's CSS.
    frame = page.frame_locator("#frame")
    expect(frame.locator("a")).to_have_count(5)
    assert frame.locator("strong").all_inner_texts() == stack.titles((WIDGET_ARTICLE, 5))
    expect(frame.locator("strong").first).to_have_css("color", "rgb(11, 110, 79)")

    # Only the publisher's page and the static host were asked, and no beacon was sent
    # (no live Kindred was named with data-kindred-api).
    assert all(url.startswith((stack.site.url, stack.nginx.url)) for _, url in requests), requests
    assert not [url for method, url in requests if method != "GET"]

    # For contrast, the live embed on the same site gets nothing while Kindred is down.
    page.goto(stack.site.url + "/live.html")
    assert page.evaluate("() => window.Kindred === undefined")
    assert page.locator("#live").get_attribute("data-kindred-state") is None


def test_the_static_base_may_be_set_on_the_element(page: Page, stack: Stack):
    stack.kindred.stop()
    page.goto(stack.site.url + "/element.html")
    assert titles(page, "#by-id") == stack.titles((WIDGET_ARTICLE, 5))


def render_and_record(page: Page, stack: Stack, path: str, host: str) -> tuple[list[str], list[dict]]:
    """Open a page with Kindred running: the related lists the browser asked Kindred for, and
    the beacons it sent Kindred (once the first has arrived)."""
    if not stack.kindred.running():
        stack.kindred.start()
    asked, beacons = [], []
    page.on("request", lambda r: asked.append(r.url) if r.url.startswith(stack.kindred.url + "/api/v1/related") else None)

    def forward(route: Route) -> None:  # a beacon's body is only readable while routed
        beacons.append(json.loads(route.request.post_data or "null"))
        route.fulfill(response=route.fetch())

    events = f"{stack.kindred.url}/api/v1/events"
    page.route(events, forward)
    with page.expect_event("requestfinished", lambda r: r.url == events):
        page.goto(stack.site.url + path)
        assert titles(page, host) == stack.titles((WIDGET_ARTICLE, 5))
    return asked, beacons


def test_without_a_static_base_the_widget_reads_the_live_api(page: Page, stack: Stack):
    asked, beacons = render_and_record(page, stack, "/live.html", "#live")
    assert asked == [f"{stack.kindred.url}/api/v1/related/{WIDGET_ARTICLE}?"]
    assert [b["type"] for b in beacons] == ["widget_impression"]


def test_static_lists_report_to_the_live_server_named_by_data_kindred_api(page: Page, stack: Stack):
    asked, beacons = render_and_record(page, stack, "/reporting.html", "#by-id")
    assert asked == []  # the list came from the export
    shown = [item["id"] for item in stack.expected[(WIDGET_ARTICLE, 5)]]
    assert beacons == [{"type": "widget_impression", "source": WIDGET_ARTICLE, "targets": shown}]
