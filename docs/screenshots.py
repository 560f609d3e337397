"""Regenerate the screenshots in docs/img/ from a real Kindred serving the sample site.

    python docs/screenshots.py          (or: make screenshots)

Indexes data/sample with the sample site's kindred.toml into a temporary directory, runs
`kindred serve` and a third-party page that embeds the widget (tests/browser/servers.py, the
same servers the browser tests use), and photographs them with Debian's Chromium through
Playwright (never `playwright install`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from tests.browser.servers import (  # noqa: E402
    CHROMIUM_LAUNCH, WIDGET_ARTICLE, Servers, build_sample_index, sample_site_settings, start_servers,
)

OUT = REPO / "docs" / "img"
DESKTOP = {"width": 1280, "height": 860}
MOBILE = {"width": 390, "height": 844}


def new_page(browser: Browser, viewport: dict, mobile: bool = False) -> Page:
    context = browser.new_context(viewport=viewport, device_scale_factor=1, is_mobile=mobile,
                                  has_touch=mobile, color_scheme="light", reduced_motion="reduce")
    page = context.new_page()
    page.set_default_timeout(10000)
    return page


def search(page: Page, kindred_url: str, query: str) -> None:
    page.goto(f"{kindred_url}/")
    box = page.get_by_label("Search articles")
    box.fill(query)
    with page.expect_navigation():
        box.press("Enter")
    page.locator("#results-heading").wait_for()
    box.blur()  # no focus ring or caret in the picture


def shoot(page: Page, name: str, **options) -> Path:
    path = OUT / name
    page.screenshot(path=str(path), animations="disabled", caret="hide", **options)
    page.context.close()
    print(f"wrote {path.relative_to(REPO)}")
    return path


def take_all(browser: Browser, servers: Servers) -> None:
    kindred = servers.kindred.url

    page = new_page(browser, DESKTOP)
    search(page, kindred, "molly")
    shoot(page, "search.png", full_page=True)

    page = new_page(browser, DESKTOP)
    search(page, kindred, "kombucha hangover")
    shoot(page, "empty.png", full_page=True)

    page = new_page(browser, DESKTOP)
    page.goto(f"{servers.site.url}/article.html")
    for host in page.locator("[data-kindred-related], [data-kindred-related-url]").all():
        host.scroll_into_view_if_needed()
        expect(host).to_have_attribute("data-kindred-state", "ready")
    # From the article's last paragraph to the end of the widgets, as a reader scrolls down.
    top, bottom = page.evaluate("""() => {
        const y = el => el.getBoundingClientRect().top + window.scrollY;
        const more = document.querySelector('#more-reading');
        return [y(document.querySelector('main.page > p:last-of-type')), y(more) + more.offsetHeight];
    }""")
    clip = {"x": 0, "y": top - 16, "width": DESKTOP["width"], "height": bottom - top + 16 + 16}
    shoot(page, "widget.png", full_page=True, clip=clip)

    page = new_page(browser, MOBILE, mobile=True)
    search(page, kindred, "ketamin")
    shoot(page, "mobile.png")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kindred-screenshots-") as tmp:
        settings = build_sample_index(sample_site_settings(Path(tmp)))
        servers = start_servers(settings, Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(**CHROMIUM_LAUNCH)
                try:
                    take_all(browser, servers)
                finally:
                    browser.close()
        finally:
            servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
