"""Learning from readers in a real Chromium against a real server: readers search words that
find nothing, then words that do, and open the article (the page's own click beacon); the
editor sees the proposed synonym on the dashboard and accepts it with its button; the words
that failed then find the article, with no rebuild and after the next one."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from indexer.build import Indexer
from search.snapshot import CONFIG_CHECK_SECONDS
from tests.browser.servers import WIDGET_ARTICLE, KindredServer
from tests.browser.test_dashboard import sign_in
from tests.test_analytics_tune import small_site

pytestmark = pytest.mark.browser
TITLE = "Ketamine: effects and risks"


@pytest.fixture
def tuned(tmp_path):
    # The server warms up on the widget's article: the small site has one.
    site = small_site(tmp_path, [{"id": WIDGET_ARTICLE, "title": "Does weed have calories?", "category": "Drugs",
                                  "body": "Cannabis itself has almost no calories; the munchies are what add up."}])
    server = KindredServer(site["settings"], tmp_path).start()
    yield site, server
    server.stop()


def test_an_editor_accepts_the_synonym_readers_taught(browser: Browser, tuned):
    site, server = tuned
    settings = site["settings"]
    for _ in range(settings.analytics_tune_min_sessions):
        reader = browser.new_context()  # a new reader: a session of their own
        page = reader.new_page()
        page.goto(f"{server.url}/search?q=special kay")
        expect(page.locator("ol.hits")).to_have_count(0)  # no results (the page offers others)
        page.goto(f"{server.url}/search?q=ketamine")
        with page.expect_navigation():
            page.locator("ol.hits").get_by_role("link", name=TITLE).click()
        reader.close()

    editor = browser.new_page()
    sign_in(editor, server.url)
    accept = editor.get_by_role("button", name="Add synonym “special kay => ketamine”")
    for _ in range(20):  # the servers write their analytics within a second or two
        if accept.count():
            break
        editor.wait_for_timeout(250)
        editor.reload()
    expect(editor.locator("#proposals")).to_contain_text("special kay")
    with editor.expect_navigation():
        accept.click()
    expect(editor.get_by_role("status")).to_contain_text("Added the synonym 'special kay => ketamine'")
    expect(accept).to_have_count(0)
    assert Path(settings.synonyms).read_text(encoding="utf-8").rstrip().endswith("\nspecial kay => ketamine")

    # Read at query time: the server's workers find the article once they have looked at the
    # file again (at most CONFIG_CHECK_SECONDS later), with no rebuild; and after the next build.
    results = editor.locator("ol.hits a").first
    for _ in range(50):
        editor.goto(f"{server.url}/search?q=special kay")
        if results.count():
            break
        editor.wait_for_timeout(CONFIG_CHECK_SECONDS * 200)
    expect(results).to_have_text(TITLE)
    Indexer(settings).build([site["corpus"]])
    editor.goto(f"{server.url}/search?q=special kay")
    expect(editor.locator("ol.hits a").first).to_have_text(TITLE)
