"""Regenerate the screenshots in docs/img/ from a real Kindred serving the sample site.

    python docs/screenshots.py          (or: make screenshots)

Indexes data/sample with the sample site's kindred.toml into a temporary directory, runs
`kindred serve` and a third-party page that embeds the widget (tests/browser/servers.py, the
same servers the browser tests use), and photographs them with Debian's Chromium through
Playwright (never `playwright install`).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from tests.browser.servers import (  # noqa: E402
    CHROMIUM_LAUNCH, LONG_WORD, WIDGET_ARTICLE, Servers, build_sample_index, sample_site_settings, start_servers,
)
from analytics.recorder import connect  # noqa: E402

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

    # Kindred's own article page, down to its related-articles widget (styled under the
    # page's strict Content-Security-Policy).
    page = new_page(browser, DESKTOP)
    page.goto(f"{kindred}/articles/{WIDGET_ARTICLE}")
    widget = page.locator("[data-kindred-related]")
    widget.scroll_into_view_if_needed()
    expect(widget).to_have_attribute("data-kindred-state", "ready")
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, "article.png", full_page=True)

    # Results that include the article whose title is one 85-letter word: it wraps.
    page = new_page(browser, DESKTOP)
    search(page, kindred, "walking anxiety")
    expect(page.locator("ol.hits").get_by_text(LONG_WORD).first).to_be_visible()
    shoot(page, "long-title.png", full_page=True)


ADMIN_TOKEN = "screenshot-token"
# A month of searches for the dashboard picture: the chart needs history that a fresh demo
# does not have, so earlier days are written straight into the analytics database.
HISTORY_QUERIES = [("ketamine", 9), ("weed calories", 7), ("naloxone", 6), ("molly", 5), ("relapse", 4),
                   ("cbd vs thc", 4), ("fentanyl test strips", 3), ("alcohol withdrawal", 3),
                   ("kombucha hangover", 2), ("nitrous oxide", 2), ("gabapentin", 2)]
NO_RESULTS = {"kombucha hangover", "nitrous oxide"}


def seed_history(db: Path) -> None:
    rng = random.Random(7)
    conn = connect(db)
    now = dt.datetime.now(dt.timezone.utc)
    with conn:
        for days_ago in range(29, 0, -1):
            day = now - dt.timedelta(days=days_ago)
            for query, weight in HISTORY_QUERIES:
                for _ in range(rng.randint(0, weight)):
                    at = (day + dt.timedelta(minutes=rng.randint(0, 1000))).isoformat(timespec="milliseconds")
                    results = 0 if query in NO_RESULTS else rng.randint(3, 12)
                    conn.execute("INSERT INTO searches (at, query, filters, results, latency_ms, page, session) "
                                 "VALUES (?, ?, '{}', ?, ?, 1, ?)",
                                 (at, query, results, rng.uniform(3, 25), f"s{rng.randint(0, 400):032x}"[-32:]))
                    if results and rng.random() < 0.45:
                        conn.execute("INSERT INTO clicks (at, kind, query, source, target, position) "
                                     "VALUES (?, 'result', ?, NULL, ?, ?)",
                                     (at, query, "ketamine-addiction-treatment", rng.choice((1, 1, 1, 2, 3))))
    conn.close()


def todays_session(kindred_url: str) -> None:
    """Today's figures come from real requests, as a reader's visit makes them."""
    for query in ("ketamine", "molly", "kombucha hangover", "naloxone"):
        urllib.request.urlopen(f"{kindred_url}/api/v1/search?q={urllib.parse.quote(query)}").read()
    events = [
        {"type": "widget_impression", "source": WIDGET_ARTICLE,
         "targets": ["what-is-an-eighth", "cbd-vs-thc", "cannabis-edibles-onset", "history-of-cannabis-smoking"]},
        {"type": "widget_click", "source": WIDGET_ARTICLE, "target": "cbd-vs-thc", "position": 2},
    ] * 3
    for event in events:
        request = urllib.request.Request(f"{kindred_url}/api/v1/events", data=json.dumps(event).encode(),
                                         headers={"Content-Type": "text/plain"}, method="POST")
        urllib.request.urlopen(request).read()


def dashboard(browser: Browser, kindred_url: str) -> None:
    page = new_page(browser, {"width": 1280, "height": 1000})
    page.goto(f"{kindred_url}/admin/login")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".stats").wait_for()
    shoot(page, "dashboard.png", full_page=True)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kindred-screenshots-") as tmp:
        settings = build_sample_index(sample_site_settings(Path(tmp)).replace(admin_token=ADMIN_TOKEN))
        seed_history(settings.analytics_db)
        servers = start_servers(settings, Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(**CHROMIUM_LAUNCH)
                try:
                    take_all(browser, servers)
                    todays_session(servers.kindred.url)
                    dashboard(browser, servers.kindred.url)
                finally:
                    browser.close()
        finally:
            servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
