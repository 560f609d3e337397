"""Geometry of the dashboard's bar chart, one bar per day of the period shown.

The template draws it as SVG (so everything in it is escaped). Days without data are
there as empty slots, so one day of data is one slim bar at its date, not a block across
the whole chart; bars are at most MAX_BAR_WIDTH wide; the value axis has round ticks and
about eight dates label the time axis.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

MAX_BAR_WIDTH = 36
BAR_SHARE = 0.7  # of a day's slot; the rest is the gap between bars
MAX_DATE_LABELS = 8
VALUE_AXIS_WIDTH = 44  # room for the tick labels left of the bars
RIGHT_MARGIN = 24  # half a date label, so the last one is not cut off
DATE_AXIS_HEIGHT = 22


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at or above `value`."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(int(step * magnitude) for step in (1, 2, 5, 10) if step * magnitude >= value)


def bar_chart(series: list[dict[str, Any]], key: str, first_day: dt.date, last_day: dt.date,
              width: int = 720, height: int = 200) -> dict[str, Any]:
    """`series` rows have `day` (YYYY-MM-DD) and `key`; every day from `first_day` to
    `last_day` gets a slot."""
    values = {row["day"]: row[key] for row in series}
    days = [first_day + dt.timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    top = nice_ceiling(max(values.values(), default=0))
    plot_top, plot_bottom = 8, height - DATE_AXIS_HEIGHT
    slot = (width - VALUE_AXIS_WIDTH - RIGHT_MARGIN) / len(days)
    bar_width = min(MAX_BAR_WIDTH, max(1.0, slot * BAR_SHARE))
    label_every = math.ceil(len(days) / MAX_DATE_LABELS)

    def y(value: float) -> float:
        return round(plot_bottom - (plot_bottom - plot_top) * value / top, 1)

    bars = []
    for index, day in enumerate(days):
        value = values.get(day.isoformat(), 0)
        centre = VALUE_AXIS_WIDTH + slot * (index + 0.5)
        bars.append({
            "x": round(centre - bar_width / 2, 1), "y": y(value), "width": round(bar_width, 1),
            "height": round(plot_bottom - y(value), 1), "centre": round(centre, 1), "value": value,
            "label": day.strftime("%-d %b"),
            # Counted from the last day, so the most recent date is always labelled.
            "show_label": (len(days) - 1 - index) % label_every == 0,
        })
    ticks = [{"value": v, "y": y(v)} for v in sorted({0, top // 2, top})]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks, "peak": max(values.values(), default=0),
            "axis_x": VALUE_AXIS_WIDTH, "baseline": plot_bottom}
