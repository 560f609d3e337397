"""The related-articles widget embedded on a third-party page (another origin), in a real
Chromium: lazy loading, Shadow DOM isolation, several widgets per page, click reporting,
and the iframe form."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.servers import SECOND_ARTICLE, WIDGET_ARTICLE

pytestmark = pytest.mark.browser

MAIN = f"[data-kindred-related='{WIDGET_ARTICLE}']"
RED = "rgb(255, 0, 0)"


def related_api(page: Page, kindred_url: str, article_id: str, limit: int = 5) -> list[dict]:
    response = page.request.get(f"{kindred_url}/api/v1/related/{article_id}?limit={limit}")
    assert response.ok
    return response.json()["related"]


def test_widget_loads_on_scroll_inside_a_shadow_root(page: Page, kindred_url, site_url):
    related_calls = []
    page.on("request", lambda r: related_calls.append(r.url) if "/api/v1/related" in r.url else None)
    page.goto(site_url + "/article.html")
    host = page.locator(MAIN)
    # widget.js came from Kindred's origin, but nothing is fetched until the reader scrolls near.
    page.wait_for_function("() => window.Kindred && typeof window.Kindred.scan === 'function'")
    # Far below the fold (the widget loads within 300px of the viewport) ...
    assert host.bounding_box()["y"] > page.viewport_size["height"] + 300
    # ... so after the observer's first report (delivered with a rendered frame), still nothing.
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    expect(host).not_to_have_attribute("data-kindred-state", "ready")
    assert host.get_attribute("data-kindred-state") is None
    assert related_calls == []

    host.scroll_into_view_if_needed()
    expect(host).to_have_attribute("data-kindred-state", "ready")
    assert any(f"/api/v1/related/{WIDGET_ARTICLE}" in url for url in related_calls)

    links = page.locator(f"{MAIN} >> css=a")
    expect(links).to_have_count(5)
    expected = related_api(page, kindred_url, WIDGET_ARTICLE)
    assert links.locator("strong").all_inner_texts() == [item["title"] for item in expected]
    teasers = links.locator("span").all_inner_texts()
    assert all(len(t) > 20 for t in teasers), teasers
    assert [links.nth(i).get_attribute("href") for i in range(5)] == [item["url"] for item in expected]
    expect(page.locator(f"{MAIN} >> css=h2")).to_have_text("Related articles")
    expect(page.locator(MAIN).get_by_role("region", name="Related articles")).to_be_visible()

    # The teasers live in an open shadow root, not in the page's DOM.
    in_shadow = page.evaluate("""sel => {
        const host = document.querySelector(sel);
        return {shadow: host.shadowRoot !== null, light: host.querySelectorAll('a').length,
                inner: host.shadowRoot.querySelectorAll('a').length};
    }""", MAIN)
    assert in_shadow == {"shadow": True, "light": 0, "inner": 5}


def test_site_css_does_not_reach_the_widget(page: Page, site_url):
    page.goto(site_url + "/article.html")
    # The site's own link and the widget's container prove its blunt CSS is in force ...
    own = page.locator("#site-link")
    expect(own).to_have_css("color", RED)
    expect(own).to_have_css("font-size", "40px")
    expect(page.locator("#read-next")).to_have_css("text-transform", "uppercase")
    # ... and the widget's links, titles, teasers and heading ignore it.
    page.locator(MAIN).scroll_into_view_if_needed()
    link = page.locator(f"{MAIN} >> css=a").first
    expect(link).to_be_visible()
    style = link.evaluate("""a => {
        const s = el => getComputedStyle(el);
        const title = a.querySelector('strong'), teaser = a.querySelector('span');
        const heading = a.getRootNode().querySelector('h2'), li = a.closest('li');
        return {link: [s(a).color, s(a).fontSize, s(a).fontStyle, s(a).letterSpacing, s(a).textAlign],
                title: [s(title).color, s(title).fontSize, s(title).textTransform],
                teaser: [s(teaser).color, s(teaser).fontSize, s(teaser).textTransform],
                heading: [s(heading).fontSize, s(heading).fontStyle], list: [s(li).listStyleType, s(li).marginLeft]};
    }""")
    assert RED not in style["link"] and "40px" not in style["link"], style
    assert style["link"][2:] == ["normal", "normal", "left"], style  # inherited theme styles stop at the widget
    assert style["title"] == ["rgb(11, 110, 79)", "16px", "none"], style
    assert style["teaser"][0] != RED and style["teaser"][1:] == ["14px", "none"], style
    assert style["heading"] == ["13px", "normal"], style
    assert style["list"] == ["none", "0px"], style
    box = link.bounding_box()
    assert 40 < box["height"] < 160, box  # a compact teaser, not 40px text


def test_several_widgets_and_the_url_form_render(page: Page, kindred_url, site_url):
    page.goto(site_url + "/article.html")
    page.locator("#more-reading").scroll_into_view_if_needed()
    second = page.locator("#second-widget")
    by_url = page.locator("#url-widget")
    expect(second).to_have_attribute("data-kindred-state", "ready")
    expect(by_url).to_have_attribute("data-kindred-state", "ready")

    expect(page.locator("#second-widget >> css=a")).to_have_count(3)
    expect(page.locator("#second-widget >> css=h2")).to_have_text("Treatment, explained")
    expected = related_api(page, kindred_url, SECOND_ARTICLE, 3)
    assert page.locator("#second-widget >> css=strong").all_inner_texts() == [i["title"] for i in expected]
    # Theme variables set by the site on the host do reach the widget.
    expect(page.locator("#second-widget >> css=strong").first).to_have_css("color", "rgb(138, 75, 22)")

    expect(page.locator("#url-widget >> css=a")).to_have_count(3)
    expect(page.locator("#url-widget >> css=h2")).to_have_text("Also worth reading")
    for title in page.locator("#url-widget >> css=strong").all_inner_texts():
        assert title.strip()
    # The first widget (further up) rendered too: every widget on a page works.
    page.locator(MAIN).scroll_into_view_if_needed()
    expect(page.locator(f"{MAIN} >> css=a")).to_have_count(5)


def test_clicking_a_teaser_reports_the_click_then_navigates(page: Page, kindred_url, site_url):
    events: list[tuple[dict, int]] = []

    def forward(route: Route) -> None:
        """Observe the beacon and pass it on to the real server, keeping its answer."""
        body = json.loads(route.request.post_data or "null")
        response = route.fetch()
        events.append((body, response.status))
        route.fulfill(response=response)

    page.route(f"{kindred_url}/api/v1/events", forward)
    page.goto(site_url + "/article.html")
    page.locator(MAIN).scroll_into_view_if_needed()
    links = page.locator(f"{MAIN} >> css=a")
    expect(links).to_have_count(5)
    expected = related_api(page, kindred_url, WIDGET_ARTICLE)
    target = expected[1]

    def is_click(request) -> bool:
        if request.method != "POST" or request.url != f"{kindred_url}/api/v1/events":
            return False
        return json.loads(request.post_data or "null").get("type") == "widget_click"

    with page.expect_request(is_click) as click_request:
        with page.expect_navigation(url=target["url"]):
            links.nth(1).click()
    body = json.loads(click_request.value.post_data)
    assert body == {"type": "widget_click", "source": WIDGET_ARTICLE, "target": target["id"], "position": 2}
    expect(page.get_by_role("heading", level=1)).to_have_text(target["title"])

    clicks = [status for event, status in events if event.get("type") == "widget_click"]
    assert clicks == [204]
    impressions = [event for event, status in events if event.get("type") == "widget_impression" and status == 204]
    assert any(e["source"] == WIDGET_ARTICLE and e["targets"] == [i["id"] for i in expected] for e in impressions)


def test_iframe_embed_shows_the_teasers(page: Page, kindred_url, site_url):
    page.goto(site_url + "/iframe.html")
    frame = page.frame_locator("#related-frame")
    links = frame.locator("a")
    expect(links).to_have_count(5)
    expected = related_api(page, kindred_url, WIDGET_ARTICLE)
    assert links.locator("strong").all_inner_texts() == [i["title"] for i in expected]
    assert all(len(t) > 20 for t in links.locator("span").all_inner_texts())
    expect(frame.get_by_role("heading", name="Related articles")).to_be_visible()
    # The frame reports its height (postMessage) and the page fits the iframe to it.
    iframe = page.locator("#related-frame")
    page.wait_for_function("() => document.getElementById('related-frame').offsetHeight > 300")
    last = links.last.bounding_box()
    box = iframe.bounding_box()
    assert last["y"] + last["height"] <= box["y"] + box["height"] + 1, (last, box)  # sub-pixel rounding
    # Links open in the top window, on Kindred's origin.
    with page.expect_navigation(url=expected[0]["url"]):
        links.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(expected[0]["title"])
