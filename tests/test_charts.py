"""The dashboard's bar chart reads sensibly with 1, 7 and 90 days of data, in 7-, 30- and
90-day periods: one slot per day, bars no wider than a cap, round value ticks, a few dates."""

from __future__ import annotations

import datetime as dt

import pytest

from web.charts import MAX_BAR_WIDTH, bar_chart, nice_ceiling

TODAY = dt.date(2026, 11, 29)


def searches(days_with_data: int) -> list[dict]:
    return [{"day": (TODAY - dt.timedelta(days=n)).isoformat(), "searches": 3 + n % 7} for n in range(days_with_data)]


@pytest.mark.parametrize("period, days_with_data", [(30, 1), (7, 1), (7, 7), (30, 7), (90, 90), (90, 1)])
def test_bars_fit_the_chart_and_stay_slim(period, days_with_data):
    chart = bar_chart(searches(days_with_data), "searches", TODAY - dt.timedelta(days=period), TODAY)
    bars = chart["bars"]
    assert len(bars) == period + 1  # every day of the period has its slot, data or not
    assert sum(1 for b in bars if b["value"]) == days_with_data
    for bar in bars:
        assert 0 < bar["width"] <= MAX_BAR_WIDTH
        assert chart["axis_x"] <= bar["x"] and bar["x"] + bar["width"] <= chart["width"]
        assert 0 <= bar["y"] and bar["y"] + bar["height"] == pytest.approx(chart["baseline"])
    # Bars do not overlap, and the most recent day is the last slot.
    assert all(a["x"] + a["width"] < b["x"] for a, b in zip(bars, bars[1:]))
    assert bars[-1]["value"] == searches(1)[0]["searches"]


@pytest.mark.parametrize("period", [1, 7, 30, 90, 365])
def test_dates_label_the_axis_without_crowding(period):
    chart = bar_chart(searches(1), "searches", TODAY - dt.timedelta(days=period), TODAY)
    labelled = [b for b in chart["bars"] if b["show_label"]]
    assert 2 <= len(labelled) <= 9
    assert labelled[-1]["label"] == "29 Nov"  # today, always, and not cut off at the edge
    assert labelled[-1]["centre"] + 22 <= chart["width"]
    gaps = [b["centre"] - a["centre"] for a, b in zip(labelled, labelled[1:])]
    assert min(gaps) >= 60  # room for a "29 Nov" between labels


def test_value_ticks_are_round_and_cover_the_busiest_day():
    chart = bar_chart([{"day": TODAY.isoformat(), "searches": 37}], "searches", TODAY - dt.timedelta(days=7), TODAY)
    assert [t["value"] for t in chart["ticks"]] == [0, 25, 50]
    tallest = max(chart["bars"], key=lambda b: b["height"])
    assert tallest["y"] > min(t["y"] for t in chart["ticks"])  # 37 is below the top tick (50)
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 99, 101)] == [1, 1, 5, 10, 10, 20, 100, 200]
