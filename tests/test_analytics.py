"""Analytics: events from pages, the widget and the API land in SQLite and in the reports."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import time

from click.testing import CliRunner

from kindred.cli import main
from tests.conftest import make_settings, sign_in
from web.app import create_app
from analytics.recorder import Analytics, connect, purge
from analytics.report import build_report


def scripted_session(client):
    """A reader's visit: searches (two finding nothing), result clicks, widget views and clicks."""
    for q in ("ketamine", "ketamine", "molly", "zzyzx qqvqq", "zzyzx qqvqq", "weed"):
        assert client.get("/search", query_string={"q": q}).status_code == 200
    client.get("/api/v1/search?q=naloxone")
    events = [
        {"type": "result_click", "query": "ketamine", "target": "ketamine-addiction-treatment", "position": 2},
        {"type": "result_click", "query": "molly", "target": "mdma-effects-and-risks", "position": 1},
        {"type": "widget_impression", "source": "does-weed-have-calories",
         "targets": ["what-is-an-eighth", "cbd-vs-thc", "cannabis-edibles-onset"]},
        {"type": "widget_click", "source": "does-weed-have-calories", "target": "cbd-vs-thc", "position": 2},
    ]
    for event in events:
        response = client.post("/api/v1/events", data=json.dumps(event), content_type="text/plain")
        assert response.status_code == 204


def test_scripted_session_shows_the_right_counts(sample_settings, tmp_path):
    settings = sample_settings.replace(analytics_db=tmp_path / "a.sqlite")
    app = create_app(settings)
    client = app.test_client()
    scripted_session(client)
    app.extensions["kindred.analytics"].flush()

    report = build_report(settings.analytics_db)
    totals = report["totals"]
    assert totals["searches"] == 7 and totals["zero_result_searches"] == 2
    assert totals["result_clicks"] == 2 and totals["widget_clicks"] == 1
    assert totals["sessions"] == 1  # the page set a first-party cookie; the API call had none but shares it
    top = {r["query"]: r for r in report["top_queries"]}
    assert top["ketamine"]["searches"] == 2 and top["ketamine"]["clicks"] == 1
    assert top["ketamine"]["mean_position"] == 2.0
    assert [(r["query"], r["searches"]) for r in report["zero_result_queries"]] == [("zzyzx qqvqq", 2)]
    [widget] = report["widget"]
    assert (widget["article"], widget["impressions"], widget["clicks"]) == ("does-weed-have-calories", 1, 1)

    # The dashboard needs a sign-in, then shows the same figures.
    assert client.get("/admin/analytics").status_code == 302
    assert sign_in(client, "wrong").status_code == 401
    assert sign_in(client).status_code == 302
    html = client.get("/admin/analytics").get_data(as_text=True)
    assert "zzyzx qqvqq" in html and "<svg" in html and "Does Weed Have Calories?" in html
    csv_text = client.get("/admin/analytics.csv").get_data(as_text=True)
    assert "zero_result_queries,zzyzx qqvqq,2" in csv_text

    # The command line reports the same.
    result = CliRunner().invoke(main, ["analytics", "report", "--json"],
                                env={"KINDRED_ANALYTICS_DB": str(settings.analytics_db)})
    assert json.loads(result.output)["totals"]["searches"] == 7


def test_no_ip_or_user_agent_is_stored(sample_settings, tmp_path):
    settings = sample_settings.replace(analytics_db=tmp_path / "a.sqlite")
    app = create_app(settings)
    app.test_client().get("/search?q=ketamine", headers={"User-Agent": "SecretBrowser/1.0"},
                          environ_base={"REMOTE_ADDR": "203.0.113.9"})
    app.extensions["kindred.analytics"].flush()
    dump = "\n".join(sqlite3.connect(settings.analytics_db).iterdump())
    assert "203.0.113.9" not in dump and "SecretBrowser" not in dump


def test_bad_events_are_refused_without_harm(client):
    assert client.post("/api/v1/events", data="not json", content_type="text/plain").status_code == 400
    assert client.post("/api/v1/events", json={"type": "unknown"}).status_code == 400
    assert client.post("/api/v1/events", data="x" * 10_000, content_type="text/plain").status_code == 413


def test_retention_purge(tmp_path):
    path = tmp_path / "a.sqlite"
    conn = connect(path)
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=120)).isoformat()
    new = dt.datetime.now(dt.timezone.utc).isoformat()
    with conn:
        conn.executemany("INSERT INTO searches VALUES (?, 'q', '{}', 1, 1.0, 1, NULL, NULL)", [(old,), (new,)])
    conn.close()
    assert purge(path, 90) == 1
    assert build_report(path, days=365)["totals"]["searches"] == 1


def test_a_broken_analytics_database_never_fails_a_search(sample_settings, tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where a directory should be")
    app = create_app(sample_settings.replace(analytics_db=blocked / "a.sqlite"))
    client = app.test_client()
    for _ in range(3):
        assert client.get("/search?q=ketamine").status_code == 200
        assert client.get("/api/v1/search?q=ketamine").status_code == 200
    analytics = app.extensions["kindred.analytics"]
    analytics.flush()
    assert analytics.counters.failed >= 1 and analytics.counters.recorded == 0


def test_workers_first_recordings_into_a_new_database_all_succeed(tmp_path):
    # Four workers open a new database at once, a hundred times: SQLite refuses some of
    # them the switch to its write-ahead log at once ("database is locked", without waiting
    # out the busy timeout), about one time in ten; each must wait and get its connection.
    for round_ in range(100):
        path = tmp_path / f"{round_}.sqlite"
        together, failures = threading.Barrier(4), []

        def first_recording():
            together.wait()
            try:
                conn = connect(path)
                with conn:
                    conn.execute("INSERT INTO searches VALUES ('t', 'q', '{}', 1, 1.0, 1, NULL, NULL)")
                conn.close()
            except sqlite3.Error as exc:
                failures.append(exc)

        workers = [threading.Thread(target=first_recording) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert failures == []
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM searches").fetchone() == (4,)


def test_events_that_could_not_be_written_yet_are_written_once_the_database_can_be(tmp_path, caplog):
    blocked = tmp_path / "analytics"
    blocked.write_text("a file where the database's directory should be")
    analytics = Analytics(blocked / "a.sqlite")
    analytics.record_search("ketamine", {}, 3, 1.0, 1, None, "192.0.2.1")
    deadline = time.monotonic() + 10
    with caplog.at_level(logging.WARNING, logger="analytics.recorder"):
        while "trying again" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "trying again" in caplog.text
    blocked.unlink()  # the obstacle cleared before the next attempt
    analytics.flush()
    assert (analytics.counters.recorded, analytics.counters.failed) == (1, 0)
    with sqlite3.connect(blocked / "a.sqlite") as conn:
        assert conn.execute("SELECT query, results FROM searches").fetchall() == [("ketamine", 3)]


def test_disabled_analytics_records_nothing(tmp_path, sample_index):
    settings = make_settings(sample_index, analytics_db=str(tmp_path / "off.sqlite"), analytics_enabled=False)
    app = create_app(settings)
    app.test_client().get("/search?q=ketamine")
    assert not (tmp_path / "off.sqlite").exists()


def click(client, target: str, address: str):
    response = client.post("/api/v1/events", json={"type": "result_click", "query": "x", "target": target,
                                                   "position": 1}, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 204


def test_empty_result_page_offers_what_readers_click_most(sample_settings, tmp_path):
    settings = sample_settings.replace(analytics_db=tmp_path / "a.sqlite")
    app = create_app(settings)
    for target, readers in (("cbd-vs-thc", 4), ("what-is-an-eighth", 3), ("naloxone-how-to-respond-to-an-overdose", 2)):
        for reader in range(readers):
            click(app.test_client(), target, f"198.51.100.{reader}")
    app.extensions["kindred.analytics"].flush()
    html = create_app(settings).test_client().get("/search?q=zzyzx qqvqq").get_data(as_text=True)
    assert "Popular articles" in html
    assert html.index("CBD vs THC") < html.index("What Is an Eighth")


def test_a_visits_first_search_belongs_to_its_session(sample_settings, tmp_path):
    settings = sample_settings.replace(analytics_db=tmp_path / "a.sqlite")
    app = create_app(settings)
    client = app.test_client()
    client.get("/search?q=zzyzx qqvqq")  # a new reader: no cookie yet
    client.get("/search?q=ketamine")
    app.extensions["kindred.analytics"].flush()
    cookie = client.get_cookie("kindred_sid").value
    conn = sqlite3.connect(settings.analytics_db)
    sessions = conn.execute("SELECT query, session FROM searches ORDER BY at").fetchall()
    conn.close()
    assert sessions == [("zzyzx qqvqq", cookie), ("ketamine", cookie)]
