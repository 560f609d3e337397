"""Analytics with replicas: each server records its own events; the report, the dashboard and
the command line read several databases together and lose nothing a replica saw."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from click.testing import CliRunner

from analytics.databases import EventDatabases
from analytics.report import build_report
from kindred.cli import main
from search.config import ConfigError, load_settings
from tests.conftest import sign_in
from tests.test_analytics import scripted_session
from web.app import create_app
from web.http import SESSION_COOKIE


def serve_and_record(settings, visit) -> None:
    """A real app over `settings` (its own analytics database), visited, its events flushed."""
    app = create_app(settings)
    visit(app)
    app.extensions["kindred.analytics"].flush()
    app.extensions["kindred.search"].close()


def primary_and_replica(sample_settings, tmp_path):
    """A primary whose reader runs the scripted session, and a replica that two readers use:
    one new, one carrying the primary's session cookie (a load balancer sent them over)."""
    primary = sample_settings.replace(analytics_db=tmp_path / "primary.sqlite")
    replica = sample_settings.replace(analytics_db=tmp_path / "replica.sqlite")
    carried = {}

    def primary_visit(app):
        client = app.test_client()
        scripted_session(client)  # 7 searches (2 find nothing), 2 result clicks, 1 widget click
        carried["sid"] = client.get_cookie(SESSION_COOKIE).value

    def replica_visit(app):
        new_reader = app.test_client()
        for q in ("naloxone", "naloxone", "zzyzx qqvqq"):
            assert new_reader.get("/search", query_string={"q": q}).status_code == 200
        assert new_reader.post("/api/v1/events", json={"type": "result_click", "query": "naloxone",
                                                       "target": "naloxone-how-to-respond-to-an-overdose",
                                                       "position": 3}).status_code == 204
        same_reader = app.test_client()
        same_reader.set_cookie(SESSION_COOKIE, carried["sid"])
        assert same_reader.get("/api/v1/search?q=naloxone").status_code == 200

    serve_and_record(primary, primary_visit)
    serve_and_record(replica, replica_visit)
    return primary, replica


def test_merged_report_adds_up_every_servers_events(sample_settings, tmp_path):
    primary, replica = primary_and_replica(sample_settings, tmp_path)
    report = build_report(EventDatabases(primary.analytics_db, (replica.analytics_db,)))

    totals = report["totals"]
    assert totals["searches"] == 7 + 4 and totals["zero_result_searches"] == 2 + 1
    assert totals["result_clicks"] == 2 + 1 and totals["widget_clicks"] == 1
    # The primary's reader, and the replica's new one; the reader carried over is one session.
    assert totals["sessions"] == 2
    top = {r["query"]: r for r in report["top_queries"]}
    assert top["naloxone"]["searches"] == 1 + 3 and top["naloxone"]["clicks"] == 1
    assert [(r["query"], r["searches"]) for r in report["zero_result_queries"]] == [("zzyzx qqvqq", 3)]
    assert report["databases"] == [str(primary.analytics_db), str(replica.analytics_db)]
    assert report["warnings"] == []


def test_command_line_merges_databases_named_or_configured(sample_settings, tmp_path):
    primary, replica = primary_and_replica(sample_settings, tmp_path)
    runner = CliRunner()
    named = runner.invoke(main, ["analytics", "report", "--json", "--db", str(primary.analytics_db),
                                 "--db", str(replica.analytics_db)], env={})
    assert named.exit_code == 0, named.output
    assert json.loads(named.output)["totals"]["searches"] == 11

    configured = runner.invoke(main, ["analytics", "report"], env={
        "KINDRED_ANALYTICS_DB": str(primary.analytics_db), "KINDRED_ANALYTICS_MERGE_DBS": str(replica.analytics_db)})
    assert configured.exit_code == 0, configured.output
    assert configured.output.startswith("Last 30 days: 11 searches in 2 sessions, 3 found nothing")

    alone = runner.invoke(main, ["analytics", "report", "--json", "--db", str(replica.analytics_db)], env={})
    assert json.loads(alone.output)["totals"]["searches"] == 4


def test_replica_events_show_on_the_primarys_dashboard(sample_settings, tmp_path):
    primary, replica = primary_and_replica(sample_settings, tmp_path)
    app = create_app(primary.replace(analytics_merge_dbs=[str(replica.analytics_db)]))
    client = app.test_client()
    assert sign_in(client).status_code == 302
    html = client.get("/admin/analytics").get_data(as_text=True)
    assert '<span class="stat">11</span> searches' in html
    assert '<span class="stat">3</span> found nothing' in html
    assert str(replica.analytics_db) in html and "Some events are missing" not in html
    csv_text = client.get("/admin/analytics.csv").get_data(as_text=True)
    assert "zero_result_queries,zzyzx qqvqq,3" in csv_text


def test_an_unreadable_replica_database_is_an_error_on_the_command_line(sample_settings, tmp_path):
    primary, _ = primary_and_replica(sample_settings, tmp_path)
    missing = tmp_path / "replica-2.sqlite"
    not_a_database = tmp_path / "notes.sqlite"
    not_a_database.write_text("these are not events\n" * 100)
    foreign = tmp_path / "other-app.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE searches (x)").connection.close()
    for bad in (missing, not_a_database, foreign):
        result = CliRunner().invoke(main, ["analytics", "report", "--db", str(primary.analytics_db), "--db", str(bad)],
                                    env={})
        assert result.exit_code == 1
        assert result.output.startswith(f"Error: {bad}") and len(result.output.strip().splitlines()) == 1
        assert "Traceback" not in result.output


def test_an_unreadable_replica_database_is_a_warning_on_the_dashboard(sample_settings, tmp_path):
    primary, replica = primary_and_replica(sample_settings, tmp_path)
    missing = tmp_path / "replica-2.sqlite"
    broken = tmp_path / "broken.sqlite"
    broken.write_text("<script>alert(1)</script>" * 50)
    app = create_app(primary.replace(analytics_merge_dbs=[str(replica.analytics_db), str(missing), str(broken)]))
    client = app.test_client()
    sign_in(client)
    response = client.get("/admin/analytics")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("Some events are missing") == 2
    assert f"{missing}: no such analytics database" in html and str(broken) in html
    assert '<span class="stat">11</span> searches' in html  # the readable ones still add up
    csv_text = client.get("/admin/analytics.csv").get_data(as_text=True)
    assert f"warning,,,,,{missing}: no such analytics database" in csv_text


def test_other_servers_databases_are_only_read(sample_settings, tmp_path):
    """A copy of a replica's database made before reader pseudonyms (no `reader` column) is
    read as it is: opening it for writing would have migrated it."""
    primary, replica = primary_and_replica(sample_settings, tmp_path)
    old = tmp_path / "old-replica.sqlite"
    conn = sqlite3.connect(old)
    with conn:
        conn.executescript(f"ATTACH '{replica.analytics_db}' AS r;"
                           "CREATE TABLE searches AS SELECT at, query, filters, results, latency_ms, page, session "
                           "FROM r.searches;"
                           "CREATE TABLE clicks AS SELECT at, kind, query, source, target, position, session "
                           "FROM r.clicks;"
                           "CREATE TABLE impressions AS SELECT * FROM r.impressions;")
    conn.close()
    before = hashlib.sha256(old.read_bytes()).hexdigest()

    report = build_report(EventDatabases(primary.analytics_db, (old,)))

    assert report["totals"]["searches"] == 11
    assert hashlib.sha256(old.read_bytes()).hexdigest() == before
    columns = {row[1] for row in sqlite3.connect(old).execute("PRAGMA table_info(searches)")}
    assert "reader" not in columns


def test_the_merge_setting_is_checked_when_read(tmp_path):
    config = tmp_path / "kindred.toml"
    for value, message in (("[1]", "must be a list of paths"),
                           (json.dumps([f"r{n}.sqlite" for n in range(10)]), "at most 9 databases")):
        config.write_text(f"analytics_merge_dbs = {value}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_settings(config, environ={}, look_in_cwd=False)
    config.write_text('analytics_merge_dbs = ["replicas/one.sqlite"]\n', encoding="utf-8")
    settings = load_settings(config, environ={}, look_in_cwd=False)
    assert EventDatabases.from_settings(settings).others == (tmp_path / "replicas" / "one.sqlite",)
