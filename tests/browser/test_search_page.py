"""The search page in a real Chromium: autocomplete, highlighting, facets, banners, spelling,
the empty page, no-JavaScript use and basic accessibility."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser


def open_search(page: Page, kindred_url: str, query: str | None = None) -> None:
    """Type a query into the search box and press Enter, as a reader would."""
    page.goto(kindred_url + "/")
    if query is not None:
        page.get_by_label("Search articles").fill(query)
        with page.expect_navigation():
            page.get_by_label("Search articles").press("Enter")


def test_autocomplete_keyboard_pick_opens_the_article(page: Page, kindred_url):
    page.goto(kindred_url + "/")
    box = page.get_by_role("combobox", name="Search articles")
    expect(box).to_be_focused()  # autofocus
    expect(box).to_have_attribute("aria-expanded", "false")
    with page.expect_response(lambda r: "/api/v1/suggest" in r.url and "q=keta" in r.url):
        box.press_sequentially("keta", delay=60)
    options = page.get_by_role("listbox").get_by_role("option")
    expect(options.first).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    texts = options.all_text_contents()
    articles = [i for i, text in enumerate(texts) if text.startswith("Article")]
    assert articles, texts
    wanted = options.nth(articles[0]).locator("span").nth(1).text_content()
    assert "Ketamine" in wanted

    for _ in range(articles[0] + 1):
        box.press("ArrowDown")
    expect(options.nth(articles[0])).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", f"q-suggestions-{articles[0]}")
    with page.expect_navigation():
        box.press("Enter")
    expect(page).to_have_url(re.compile(r"/articles/ketamine-"))
    expect(page.get_by_role("heading", level=1)).to_have_text(wanted)


def test_escape_closes_the_suggestions(page: Page, kindred_url):
    page.goto(kindred_url + "/")
    box = page.get_by_role("combobox", name="Search articles")
    box.press_sequentially("mol", delay=30)
    listbox = page.get_by_role("listbox")
    expect(listbox).to_be_visible()
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")


def test_street_name_finds_the_article_with_highlights(page: Page, kindred_url):
    open_search(page, kindred_url, "molly")
    expect(page).to_have_url(re.compile(r"[?&]q=molly"))
    expect(page).to_have_title(re.compile(r"^molly – Search"))
    hits = page.locator("ol.hits > li")
    expect(hits.first).to_be_visible()
    first = hits.first.get_by_role("link").first
    expect(first).to_have_attribute("href", re.compile(r"/articles/mdma-effects-and-risks$"))
    expect(first).to_contain_text("MDMA")
    expect(hits.first.locator("mark").first).to_be_visible()
    assert hits.locator("mark").count() >= 2
    expect(page.locator("#results-heading")).to_contain_text(re.compile(r"\d+ results?\s+for “molly”"))
    expect(page.get_by_label("Search articles")).to_have_value("molly")


def test_category_facet_filters_and_is_marked_selected(page: Page, kindred_url):
    open_search(page, kindred_url, "molly")
    facets = page.get_by_role("complementary", name="Filter results")
    categories = facets.locator("section").filter(has=page.get_by_role("heading", name="Category"))
    facet = categories.locator("a.facet", has_text="Psychedelics")
    count = int(facet.locator(".count").inner_text())
    with page.expect_navigation():
        facet.click()
    expect(page).to_have_url(re.compile(r"[?&]category=psychedelics"))
    selected = categories.locator("a.facet.selected")
    expect(selected).to_have_count(1)
    expect(selected).to_contain_text("Psychedelics")
    expect(selected).to_have_attribute("aria-current", "true")
    hits = page.locator("ol.hits > li")
    expect(hits).to_have_count(count)
    for meta in hits.locator(".meta").all_inner_texts():
        assert "Psychedelics" in meta
    # The query survives the filter, and the selected facet removes it again.
    expect(page.get_by_label("Search articles")).to_have_value("molly")
    with page.expect_navigation():
        selected.click()
    expect(page).not_to_have_url(re.compile(r"category="))
    expect(facets.locator("a.facet.selected")).to_have_count(0)


def test_crisis_words_show_the_help_banner(page: Page, kindred_url):
    open_search(page, kindred_url, "overdose")
    banner = page.get_by_role("alert")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("heading")).to_have_text("Need help right now?")
    expect(banner.locator("a[href='tel:988']")).to_be_visible()
    # The banner comes before the results.
    assert banner.bounding_box()["y"] < page.locator("ol.hits").bounding_box()["y"]


def test_misspelling_is_corrected(page: Page, kindred_url):
    open_search(page, kindred_url, "ketamin")
    correction = page.locator(".correction")
    expect(correction).to_contain_text("Showing results for ketamine")
    expect(correction.get_by_role("link", name="ketamin", exact=True)).to_have_attribute(
        "href", re.compile(r"exact=1"))
    expect(page.locator("ol.hits > li").first).to_contain_text("Ketamine")


def test_no_results_page_helps(page: Page, kindred_url):
    open_search(page, kindred_url, "zqxwvbn")
    expect(page.locator("#results-heading")).to_contain_text("No results")
    empty = page.locator(".empty")
    expect(empty).to_contain_text("We could not find articles matching")
    expect(empty).to_contain_text("zqxwvbn")
    expect(empty).to_contain_text("Check the spelling")
    expect(page.locator("ol.hits")).to_have_count(0)
    # Something to read instead.
    suggestions = page.get_by_role("region", name="You might be looking for")
    expect(suggestions.get_by_role("link").first).to_be_visible()


def test_works_without_javascript(browser: Browser, kindred_url):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(5000)
        page.goto(kindred_url + "/")
        box = page.get_by_label("Search articles")
        box.fill("weed calories")
        with page.expect_navigation():
            page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"[?&]q=weed\+calories"))
        first = page.locator("ol.hits > li").first
        expect(first.get_by_role("link").first).to_have_attribute("href", re.compile(r"/articles/does-weed-have-calories$"))
        expect(first.locator("mark").first).to_be_visible()
        expect(page.get_by_role("listbox")).to_be_hidden()
        # Results link to the article page, which works without scripts too.
        with page.expect_navigation():
            first.get_by_role("link").first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Calories")
    finally:
        context.close()


def test_landmarks_and_labels(page: Page, kindred_url):
    page.goto(kindred_url + "/?q=molly")
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("contentinfo")).to_have_count(1)
    expect(page.get_by_role("search")).to_have_count(1)
    # The search input has a visible label tied to it.
    box = page.get_by_label("Search articles", exact=True)
    expect(box).to_have_attribute("id", "q")
    expect(page.locator("label[for=q]")).to_be_visible()
    # Results are a list of links under headings; the skip link targets <main>.
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.locator("a.skip")).to_have_attribute("href", "#main")
    # The skip link appears on keyboard focus.
    page.locator("a.skip").focus()
    expect(page.locator("a.skip")).to_be_in_viewport()
    # Every link has an accessible name.
    names = page.locator("main a").evaluate_all("els => els.map(e => e.textContent.trim())")
    assert names and all(names)
    # The article page has the same landmarks and its own search box in the header.
    page.goto(kindred_url + "/articles/does-weed-have-calories")
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("search")).to_have_count(1)
    expect(page.get_by_label("Search articles")).to_have_count(1)
    expect(page.get_by_role("complementary", name="Related articles")).to_have_count(1)


def test_mobile_layout_fits_the_screen(browser: Browser, kindred_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(5000)
        for path in ("/?q=overdose", "/?q=zqxwvbn", "/articles/does-weed-have-calories"):
            page.goto(kindred_url + path)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, overflow)
            # Content keeps a margin from the screen's edges.
            for selector in (".brand", "main h1, main .search-label"):
                box = page.locator(selector).first.bounding_box()
                assert box["x"] >= 12 and box["x"] + box["width"] <= 390 - 12, (path, selector, box)
        # On a phone the facets come after the results.
        page.goto(kindred_url + "/?q=molly")
        assert page.locator(".facets").bounding_box()["y"] > page.locator("ol.hits").bounding_box()["y"]
    finally:
        context.close()
