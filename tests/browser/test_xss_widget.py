"""XSS in a real Chromium: articles whose titles, teasers, categories and urls are script
payloads, shown by the related-articles widget (Shadow DOM) on a third-party page, by the
iframe widget, by the search page and by autocomplete. No payload runs (no alert dialog,
window.__xss never set), every title shows literally, and no link is a javascript: one."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from indexer.sources.records import plain_title
from search.article import Article
from tests.browser.servers import ThirdPartySite
from tests.reliability.fuzzing import count
from tests.reliability.payloads import FLAG_PAYLOADS, PAYLOADS, WORD, payload_articles

pytestmark = pytest.mark.browser

ARTICLES = payload_articles(FLAG_PAYLOADS + PAYLOADS)
WIDGET_TITLE = FLAG_PAYLOADS[0]  # the site owner's own data-kindred-title, a payload too


@pytest.fixture(scope="module")
def xss_site(live, tmp_path_factory):
    """The shared live server (tests/conftest.py: the payload articles, article_links=source,
    so their javascript: urls) and a third-party page embedding the widget both ways."""
    kindred_url = live.server.url
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Publisher</title></head><body>
<h1>A publisher's article</h1>
<div id="script-widget" data-kindred-related="xss-0" data-kindred-limit="10"
     data-kindred-title="{html.escape(WIDGET_TITLE)}"></div>
<script async src="{kindred_url}/widget.js"></script>
<iframe id="frame-widget" title="Related" src="{kindred_url}/widget/related/xss-1?limit=10" width="600" height="900"></iframe>
</body></html>"""
    with ThirdPartySite(tmp_path_factory.mktemp("publisher"), {"embed.html": page}) as site:
        yield kindred_url, site.url


@pytest.fixture
def watched(page: Page):
    """The page with every dialog (alert) counted and dismissed."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    return page


def assert_nothing_ran(page: Page) -> None:
    for frame in page.frames:
        try:
            flag = frame.evaluate("() => window.__xss")
        except Exception:  # noqa: BLE001 - a cross-origin frame we cannot read is checked from inside
            continue
        assert flag is None, f"a payload ran in {frame.url}: window.__xss = {flag}"
    assert page.dialogs == [], page.dialogs


def runs_code(url: str) -> bool:
    """Whether a browser would run this article url as code (as stored: Kindred collapses
    whitespace; a browser drops leading/trailing controls and spaces, and tabs/newlines)."""
    stored = Article.from_mapping({"id": "x", "title": "x", "url": url}).url
    return re.sub(r"[\t\n\r]", "", stored.strip("\x00\x01\x02 ")).lower().startswith(("javascript:", "data:", "vbscript:"))


def expected_titles(kindred_url: str, article_id: str, limit: int) -> list[dict]:
    import urllib.request

    with urllib.request.urlopen(f"{kindred_url}/api/v1/related/{quote(article_id)}?limit={limit}") as response:
        return json.load(response)["related"]


def test_widget_in_shadow_dom_shows_payloads_as_text(watched: Page, xss_site):
    kindred_url, site_url = xss_site
    watched.goto(site_url + "/embed.html")
    host = watched.locator("#script-widget")
    host.scroll_into_view_if_needed()
    expect(host).to_have_attribute("data-kindred-state", "ready")
    related = expected_titles(kindred_url, "xss-0", 10)
    payload_items = [item for item in related if WORD in item["title"]]
    assert len(payload_items) >= 4, related  # the payload articles are related to each other
    shown = watched.evaluate("""() => {
        const root = document.querySelector('#script-widget').shadowRoot;
        return {titles: [...root.querySelectorAll('strong')].map(e => e.textContent),
                teasers: [...root.querySelectorAll('span')].map(e => e.textContent),
                heading: root.querySelector('h2').textContent,
                protocols: [...root.querySelectorAll('a')].map(a => a.protocol),
                elements: [...root.querySelectorAll('*')].map(e => e.tagName.toLowerCase())};
    }""")
    assert shown["titles"] == [item["title"] for item in related]
    assert shown["teasers"] == [item["teaser"] for item in related]
    assert shown["heading"] == WIDGET_TITLE
    assert set(shown["protocols"]) <= {"http:", "https:"}, shown["protocols"]
    assert set(shown["elements"]) <= {"style", "section", "h2", "ul", "li", "a", "strong", "span"}, shown["elements"]
    assert any(set("<>&\"'") & set(t) for t in shown["titles"])  # markup characters shown as text, not parsed
    assert_nothing_ran(watched)
    for _ in shown["titles"] + shown["teasers"] + [shown["heading"]]:
        count("xss (Chromium): widget Shadow DOM")


def test_a_javascript_url_opens_kindreds_article_page_instead(watched: Page, xss_site):
    kindred_url, site_url = xss_site
    watched.goto(site_url + "/embed.html")
    host = watched.locator("#script-widget")
    host.scroll_into_view_if_needed()
    expect(host).to_have_attribute("data-kindred-state", "ready")
    source = {a["id"]: a for a in ARTICLES}
    related = expected_titles(kindred_url, "xss-0", 10)
    target = next(i for i, item in enumerate(related) if runs_code(source.get(item["id"], {}).get("url", "")))
    with watched.expect_navigation(url=f"{kindred_url}/articles/{related[target]['id']}"):
        watched.locator("#script-widget >> css=a").nth(target).click()
    expect(watched.get_by_role("heading", level=1)).to_have_text(related[target]["title"])
    assert_nothing_ran(watched)
    count("xss (Chromium): javascript: url clicked")


def test_iframe_widget_shows_payloads_as_text(watched: Page, xss_site):
    kindred_url, site_url = xss_site
    watched.goto(site_url + "/embed.html")
    frame = watched.frame_locator("#frame-widget")
    links = frame.locator("a")
    related = expected_titles(kindred_url, "xss-1", 10)
    expect(links).to_have_count(len(related))
    assert links.locator("strong").all_text_contents() == [item["title"] for item in related]
    hrefs = [links.nth(i).get_attribute("href") for i in range(len(related))]
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert_nothing_ran(watched)
    for _ in related:
        count("xss (Chromium): iframe widget")


def test_search_page_and_autocomplete_show_payloads_as_text(watched: Page, xss_site):
    kindred_url, _ = xss_site
    for payload in FLAG_PAYLOADS[:3]:
        watched.goto(f"{kindred_url}/search?q={quote(payload)}")
        expect(watched.get_by_label("Search articles")).to_have_value(payload)
    watched.goto(f"{kindred_url}/search?q={WORD}&per_page=50")
    titles = watched.locator("ol.hits h2 a").all_text_contents()
    expected = {plain_title(a["title"]) for a in ARTICLES}  # a title read from a file is text
    assert expected <= set(titles), sorted(expected - set(titles))
    hrefs = watched.locator("ol.hits h2 a").evaluate_all("links => links.map(a => a.protocol)")
    assert set(hrefs) <= {"http:", "https:"}, hrefs
    assert_nothing_ran(watched)

    watched.goto(kindred_url + "/")
    box = watched.get_by_role("combobox", name="Search articles")
    with watched.expect_response(lambda r: "/api/v1/suggest" in r.url):
        box.press_sequentially(WORD, delay=20)
    options = watched.get_by_role("listbox").get_by_role("option")
    expect(options.first).to_be_visible()
    suggested = [text for text in options.locator("span:nth-child(2)").all_text_contents()]
    assert any(t in expected for t in suggested), suggested
    assert_nothing_ran(watched)
    for _ in [*expected, *suggested, *FLAG_PAYLOADS[:3]]:
        count("xss (Chromium): search page and autocomplete")


def test_article_page_with_its_own_widget(watched: Page, xss_site):
    kindred_url, _ = xss_site
    for article in ARTICLES[:len(FLAG_PAYLOADS)]:
        watched.goto(f"{kindred_url}/articles/{article['id']}")
        expect(watched.get_by_role("heading", level=1)).to_have_text(plain_title(article["title"]))
        host = watched.locator(f"[data-kindred-related='{article['id']}']")
        host.scroll_into_view_if_needed()
        expect(host).to_have_attribute("data-kindred-state", "ready")
        count("xss (Chromium): article page and its widget")
    assert_nothing_ran(watched)
