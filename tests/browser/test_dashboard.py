"""The editors' analytics dashboard in a real Chromium: the searches-per-day chart with only
one day of data (a new site's first day) is one slim bar at today's date on a labelled time
axis, not a block across the chart."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.browser


def sign_in(page: Page, kindred_url: str) -> None:
    page.goto(f"{kindred_url}/admin/login")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What readers search for")


def test_one_day_of_searches_is_one_slim_labelled_bar(page: Page, kindred_url):
    assert page.request.get(f"{kindred_url}/api/v1/search?q=molly").ok  # today has data
    sign_in(page, kindred_url)
    chart = page.locator("svg.chart")
    for _ in range(20):  # analytics reach the database within a second or two
        if chart.count():
            break
        page.wait_for_timeout(250)
        page.reload()
    bars = chart.locator("rect")
    expect(bars).to_have_count(1)  # the servers' analytics start today: one day of data
    chart_box, bar_box = chart.bounding_box(), bars.first.bounding_box()
    assert bar_box["width"] <= 0.06 * chart_box["width"], (bar_box, chart_box)
    # At today's end of the time axis, under a labelled value axis.
    assert bar_box["x"] > chart_box["x"] + 0.9 * chart_box["width"], (bar_box, chart_box)
    labels = chart.locator("text").all_text_contents()
    today = dt.datetime.now(dt.timezone.utc).date()
    assert today.strftime("%-d %b") in labels and "0" in labels
    assert sum(label.replace(",", "").isdigit() for label in labels) >= 2  # value ticks
    assert sum(not label.replace(",", "").isdigit() for label in labels) >= 4  # dates along the period
