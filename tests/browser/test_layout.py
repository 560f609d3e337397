"""What a reader sees, in a real Chromium: the related-articles widget styled under strict
Content-Security-Policies (ours and a publisher's), and one very long word that must wrap
instead of widening the page."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.servers import LONG_TITLE_ARTICLE, LONG_TITLE_SOURCE, LONG_WORD, WIDGET_ARTICLE

pytestmark = pytest.mark.browser

# Every CSP violation in any frame, as the browser reports it to the page.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));
"""
# The widget's own look (web/static/widget.js): cards, not a bulleted list.
STYLED = {"display": "block", "padding": "12px 14px", "borderRadius": "10px", "listStyle": "none",
          "titleDisplay": "block", "titleSize": "16px"}


def watch_csp(page: Page) -> list[str]:
    """Console errors about a Content Security Policy (the browser logs each refusal)."""
    errors: list[str] = []
    page.add_init_script(WATCH_CSP)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Content Security Policy" in m.text
            else None)
    return errors


def widget_look(page: Page, host: str) -> dict:
    page.locator(host).scroll_into_view_if_needed()
    expect(page.locator(host)).to_have_attribute("data-kindred-state", "ready")
    return page.locator(f"{host} >> css=a").first.evaluate("""a => {
        const s = getComputedStyle(a), title = getComputedStyle(a.querySelector('strong'));
        return {display: s.display, padding: s.padding, borderRadius: s.borderRadius,
                listStyle: getComputedStyle(a.closest('li')).listStyleType,
                titleDisplay: title.display, titleSize: title.fontSize};
    }""")


def test_widget_is_styled_on_our_own_article_page(page: Page, kindred_url):
    console_errors = watch_csp(page)
    response = page.goto(f"{kindred_url}/articles/{WIDGET_ARTICLE}")
    assert "style-src 'self'" in response.headers["content-security-policy"]  # our strict policy is on
    assert widget_look(page, "[data-kindred-related]") == STYLED
    assert page.evaluate("window.__cspViolations") == []
    assert console_errors == []


def test_widget_is_styled_on_a_publisher_page_with_a_strict_policy(page: Page, site_url):
    console_errors = watch_csp(page)
    page.goto(f"{site_url}/strict.html")
    assert widget_look(page, "#strict-widget") == STYLED
    assert page.evaluate("window.__cspViolations") == []
    assert console_errors == []


def no_horizontal_overflow(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window"


def inside(page: Page, inner: str, outer: str) -> None:
    """Every `inner` element ends within its `outer` ancestor (nothing clipped or sticking out)."""
    sticking_out = page.evaluate("""([inner, outer]) => [...document.querySelectorAll(inner)].filter(el => {
        const box = el.getBoundingClientRect(), frame = el.closest(outer).getBoundingClientRect();
        return box.right > frame.right + 0.5 || box.left < frame.left - 0.5;
    }).map(el => el.textContent.slice(0, 40))""", [inner, outer])
    assert sticking_out == []


@pytest.mark.parametrize("width", [1280, 390])
def test_a_long_word_wraps_in_results_and_article(browser: Browser, kindred_url, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(5000)
        page.goto(f"{kindred_url}/?q=walking+anxiety")
        titles = page.locator("ol.hits > li h2")
        expect(titles.filter(has_text=LONG_WORD)).to_have_count(1)
        assert titles.count() > 1  # the other results share the column
        no_horizontal_overflow(page)
        inside(page, "ol.hits > li h2 a, ol.hits .snippet, ol.hits .meta", ".results")
        # The query itself, echoed in the heading, is one long word too.
        page.goto(f"{kindred_url}/?q={quote(LONG_WORD)}")
        expect(page.locator("#results-heading")).to_contain_text(LONG_WORD)
        no_horizontal_overflow(page)
        inside(page, "#results-heading, ol.hits > li h2 a, ol.hits .snippet", ".results")

        page.goto(f"{kindred_url}/articles/{LONG_TITLE_ARTICLE['id']}")
        expect(page.get_by_role("heading", level=1)).to_have_text(LONG_WORD)
        no_horizontal_overflow(page)
        inside(page, "article h1, article p", "article")
    finally:
        context.close()


def test_a_long_word_wraps_in_the_widget(page: Page, kindred_url):
    """An article whose related list shows the long-title article: the card keeps within the
    widget on a phone, in the script widget and in the iframe form."""
    source = LONG_TITLE_SOURCE
    response = page.request.get(f"{kindred_url}/api/v1/related/{quote(source)}")
    assert LONG_TITLE_ARTICLE["id"] in [item["id"] for item in response.json()["related"]]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{kindred_url}/articles/{source}")
    host = "[data-kindred-related]"
    widget_look(page, host)
    expect(page.locator(f"{host} >> css=strong").filter(has_text=LONG_WORD)).to_have_count(1)
    no_horizontal_overflow(page)
    sticking_out = page.locator(host).evaluate("""host => [...host.shadowRoot.querySelectorAll('strong, span')]
        .filter(el => el.getBoundingClientRect().right > host.getBoundingClientRect().right + 0.5).length""")
    assert sticking_out == 0
    page.goto(f"{kindred_url}/widget/related/{source}")
    expect(page.locator("strong").filter(has_text=LONG_WORD)).to_have_count(1)
    no_horizontal_overflow(page)
