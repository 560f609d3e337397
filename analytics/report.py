"""What the analytics say: the figures behind the dashboard, `kindred analytics report` and CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from analytics.databases import EventDatabases, open_events
from analytics.recorder import period_start, rows

NEVER_CLICKED_MIN_IMPRESSIONS = 5


def build_report(databases: EventDatabases | Path, days: int = 30, limit: int = 20,
                 strict: bool = True) -> dict[str, Any]:
    """The figures of one database (a path) or of several servers' together; a database that
    cannot be read raises analytics.databases.UnreadableAnalytics, or with `strict=False` is
    left out and named in the report's `warnings`."""
    if isinstance(databases, Path):
        databases = EventDatabases(databases)
    since = period_start(days)
    with open_events(databases, strict) as events:
        conn = events.conn
        per_day = rows(conn, """
            SELECT substr(at, 1, 10) AS day, count(*) AS searches,
                   sum(results = 0) AS zero_results
            FROM searches WHERE at >= ? GROUP BY day ORDER BY day""", [since])
        totals = rows(conn, """
            SELECT count(*) AS searches, count(DISTINCT session) AS sessions,
                   coalesce(sum(results = 0), 0) AS zero_result_searches,
                   round(coalesce(avg(latency_ms), 0), 2) AS mean_latency_ms
            FROM searches WHERE at >= ?""", [since])[0]
        clicks = rows(conn, """
            SELECT coalesce(sum(kind = 'result'), 0) AS result_clicks,
                   coalesce(sum(kind = 'widget'), 0) AS widget_clicks
            FROM clicks WHERE at >= ?""", [since])[0]
        totals.update(clicks)
        totals["click_through_rate"] = round(clicks["result_clicks"] / totals["searches"], 3) if totals["searches"] else 0.0
        top_queries = rows(conn, """
            WITH s AS (SELECT query, count(*) AS searches, round(avg(results), 1) AS mean_results, max(at) AS last_seen
                       FROM searches WHERE at >= ? AND query != '' GROUP BY query),
                 c AS (SELECT query, count(*) AS clicks, round(avg(position), 2) AS mean_position
                       FROM clicks WHERE at >= ? AND kind = 'result' GROUP BY query)
            SELECT s.query, s.searches, s.mean_results, coalesce(c.clicks, 0) AS clicks,
                   round(coalesce(c.clicks, 0) * 1.0 / s.searches, 3) AS click_through_rate,
                   c.mean_position, s.last_seen
            FROM s LEFT JOIN c ON c.query = s.query
            ORDER BY s.searches DESC, s.query LIMIT ?""", [since, since, limit])
        zero_results = rows(conn, """
            SELECT query, count(*) AS searches, max(at) AS last_seen
            FROM searches WHERE at >= ? AND results = 0 AND query != ''
            GROUP BY query ORDER BY searches DESC, last_seen DESC LIMIT ?""", [since, limit])
        widget = rows(conn, """
            WITH i AS (SELECT source, count(*) AS impressions FROM impressions WHERE at >= ? GROUP BY source),
                 c AS (SELECT source, count(*) AS clicks FROM clicks WHERE at >= ? AND kind = 'widget' GROUP BY source)
            SELECT i.source AS article, i.impressions, coalesce(c.clicks, 0) AS clicks,
                   round(coalesce(c.clicks, 0) * 1.0 / i.impressions, 3) AS click_through_rate
            FROM i LEFT JOIN c ON c.source = i.source
            ORDER BY i.impressions DESC, i.source LIMIT ?""", [since, since, limit])
        never_clicked = rows(conn, """
            WITH shown AS (SELECT i.source, j.value AS target, count(*) AS impressions
                           FROM impressions i, json_each(i.targets) j WHERE i.at >= ? GROUP BY i.source, j.value),
                 clicked AS (SELECT DISTINCT source, target FROM clicks WHERE at >= ? AND kind = 'widget')
            SELECT shown.source, shown.target, shown.impressions FROM shown
            LEFT JOIN clicked ON clicked.source = shown.source AND clicked.target = shown.target
            WHERE clicked.target IS NULL AND shown.impressions >= ?
            ORDER BY shown.impressions DESC, shown.source, shown.target LIMIT ?""",
            [since, since, NEVER_CLICKED_MIN_IMPRESSIONS, limit])
    return {
        "databases": [str(path) for path in events.read],
        "warnings": events.warnings,
        "days": days,
        "since": since,
        "totals": totals,
        "searches_per_day": per_day,
        "top_queries": top_queries,
        "zero_result_queries": zero_results,
        "widget": widget,
        "never_clicked": never_clicked,
    }


def report_csv(report: dict[str, Any]) -> str:
    """One CSV with a `section` column, so a spreadsheet can filter each table."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "searches_or_impressions", "clicks", "click_through_rate", "detail"])
    for warning in report["warnings"]:  # a database left out: these figures lack its events
        writer.writerow(["warning", "", "", "", "", warning])
    for row in report["searches_per_day"]:
        writer.writerow(["searches_per_day", row["day"], row["searches"], "", "", f"zero results: {row['zero_results']}"])
    for row in report["top_queries"]:
        writer.writerow(["top_queries", row["query"], row["searches"], row["clicks"], row["click_through_rate"],
                         f"mean position: {row['mean_position'] or ''}"])
    for row in report["zero_result_queries"]:
        writer.writerow(["zero_result_queries", row["query"], row["searches"], "", "", f"last seen: {row['last_seen']}"])
    for row in report["widget"]:
        writer.writerow(["widget", row["article"], row["impressions"], row["clicks"], row["click_through_rate"], ""])
    for row in report["never_clicked"]:
        writer.writerow(["never_clicked", f"{row['source']} -> {row['target']}", row["impressions"], 0, 0, ""])
    return out.getvalue()
