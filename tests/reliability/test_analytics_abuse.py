"""Analytics under abuse (issue 14, items 3, 8, 9 and 16): what one client can store, how
fast, whether it can fake the popular list, what malformed events get, and what is kept
of a reader's query.

Real app, real SQLite: each check posts what an attacker (or a careless reader) would and
reads back what landed in the analytics database."""

from __future__ import annotations

import json
import sqlite3

import pytest

from analytics.events import MAX_EVENT_BYTES
from analytics.recorder import MAX_LABEL_BYTES, MAX_TEXT_BYTES, purge
from tests.reliability.harness import ADMIN_TOKEN, SAMPLE, reliability_settings
from indexer.build import Indexer
from web.app import create_app

PER_MINUTE = 60  # analytics_events_per_minute's default


@pytest.fixture(scope="module")
def index_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("analytics-abuse")
    Indexer(reliability_settings(root)).build([SAMPLE])
    return root


@pytest.fixture
def settings(index_root, tmp_path):
    return reliability_settings(index_root, analytics_db=str(tmp_path / "analytics.sqlite"))


def post_event(client, event, address="203.0.113.7", raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(event, ensure_ascii=False).encode()
    return client.post("/api/v1/events", data=body, content_type="text/plain", environ_base={"REMOTE_ADDR": address})


def stored(settings, sql: str) -> list[tuple]:
    conn = sqlite3.connect(settings.analytics_db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# 14.3: bounded storage, rate limits ------------------------------------------------------


def test_stored_fields_are_capped_in_bytes_and_never_re_escaped(settings):
    app = create_app(settings)
    client = app.test_client()
    emoji_ids = [str(i) + "\U0001F600" * 199 for i in range(4)]  # 4 ids of 200 characters: 3.2 KB of UTF-8
    impression = {"type": "widget_impression", "source": "cbd-vs-thc", "targets": emoji_ids}
    sent = len(json.dumps(impression, ensure_ascii=False).encode())
    assert sent <= MAX_EVENT_BYTES and post_event(client, impression).status_code == 204
    long_label = "\u00e9" * 3950  # 7.9 KB
    assert client.get("/api/v1/search", query_string={"q": "\U0001F600" * 900, "category": [long_label] * 8}).status_code == 200
    app.extensions["kindred.analytics"].flush()

    [(targets, targets_bytes)] = stored(settings, "SELECT targets, length(CAST(targets AS BLOB)) FROM impressions")
    assert json.loads(targets) == emoji_ids  # ids are kept whole (200 characters at most)
    assert "\\u" not in targets and targets_bytes <= sent, (targets_bytes, sent)
    [(query_bytes, filters)] = stored(settings, "SELECT length(CAST(query AS BLOB)), filters FROM searches")
    assert query_bytes <= MAX_TEXT_BYTES
    values = json.loads(filters)["category"]
    assert values and len(values) <= 5 and all(len(v.encode()) <= MAX_LABEL_BYTES for v in values)
    assert len(filters.encode()) <= 5 * (MAX_LABEL_BYTES + 4) + 30


def test_one_client_is_rate_limited_and_others_are_not(settings):
    app = create_app(settings)
    client = app.test_client()
    click = {"type": "result_click", "query": "weed", "target": "cbd-vs-thc", "position": 1}
    answers = [post_event(client, click).status_code for _ in range(PER_MINUTE * 3)]
    assert answers.count(204) == PER_MINUTE and answers.count(429) == 2 * PER_MINUTE
    refused = post_event(client, click)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "too_many_events"
    assert post_event(client, click, address="198.51.100.20").status_code == 204  # someone else
    # An IPv6 client is its /64: changing the last bits does not buy more events.
    v6 = [post_event(client, click, address=f"2001:db8:1:2::{i:x}").status_code for i in range(PER_MINUTE + 5)]
    assert v6.count(204) == PER_MINUTE
    # Searches are answered whatever the rate; only the first PER_MINUTE are recorded.
    for _ in range(PER_MINUTE + 20):
        assert client.get("/api/v1/search?q=ketamine", environ_base={"REMOTE_ADDR": "198.51.100.30"}).status_code == 200
    app.extensions["kindred.analytics"].flush()
    assert stored(settings, "SELECT count(*) FROM clicks") == [(2 * PER_MINUTE + 1,)]
    assert stored(settings, "SELECT count(*) FROM searches") == [(PER_MINUTE,)]


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(settings):
    client = create_app(settings.replace(trusted_proxies=1)).test_client()
    click = {"type": "result_click", "query": "weed", "target": "cbd-vs-thc", "position": 1}

    def via_proxy(reader: str) -> int:
        return client.post("/api/v1/events", data=json.dumps(click), content_type="text/plain",
                           environ_base={"REMOTE_ADDR": "127.0.0.1"},
                           headers={"X-Forwarded-For": reader}).status_code

    assert [via_proxy("198.51.100.1") for _ in range(PER_MINUTE + 1)][-1] == 429
    assert via_proxy("198.51.100.2") == 204  # another reader behind the same proxy


# 14.8: the popular list ----------------------------------------------------------------------


def popular_on_the_home_page(settings) -> list[str]:
    """The home page's "Popular articles" titles, from a fresh worker (popularity is read
    once per worker and then every few minutes)."""
    html = create_app(settings).test_client().get("/").get_data(as_text=True)
    if "Popular articles" not in html:
        return []
    section = html[html.index("Popular articles"):]
    return [part.split("</span>")[0] for part in section.split('<span class="card-title">')[1:]]


def test_one_client_cannot_fake_the_popular_list_but_many_readers_change_it(settings):
    app = create_app(settings)
    client = app.test_client()
    liked = ("cbd-vs-thc", "what-is-an-eighth", "naloxone-how-to-respond-to-an-overdose")
    for index, target in enumerate(liked):
        for reader in range(4 - index):  # 4, 3 and 2 readers
            assert post_event(client, {"type": "result_click", "query": "q", "target": target, "position": 1},
                              address=f"198.51.100.{reader}").status_code == 204
    app.extensions["kindred.analytics"].flush()
    before = popular_on_the_home_page(settings)
    assert len(before) == 3

    # A flood from one client (as the attack: 900 clicks in under a second, fewer answered).
    chosen = ("ketamine-addiction-treatment", "does-weed-have-calories", "mdma-effects-and-risks")
    for i in range(900):
        post_event(client, {"type": "result_click", "query": "q", "target": chosen[i % 3], "position": 1},
                   address="203.0.113.66")
    app.extensions["kindred.analytics"].flush()
    assert popular_on_the_home_page(settings) == before

    # Many different readers clicking one article do move it up.
    for reader in range(6):
        post_event(client, {"type": "widget_click", "source": "cbd-vs-thc", "target": chosen[0], "position": 1},
                   address=f"192.0.2.{reader}")
    app.extensions["kindred.analytics"].flush()
    after = popular_on_the_home_page(settings)
    assert after == ["Ketamine for Addiction Treatment: What the Research Shows"] + before


# 14.9: malformed events and upserts ---------------------------------------------------------

MALFORMED_EVENTS = [
    b"[" * 4000,
    b'{"type": "result_click", "target": "x", "q": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    b'{"type": "result_click", "target": "x", "position": 1e999}',
    b'{"type": "result_click", "target": "x", "position": -Infinity}',
    b'{"type": "result_click", "target": "x", "position": NaN}',
    b'{"type": "widget_impression", "source": "x", "targets": 5}',
    b'{"type": "widget_impression", "source": "x", "targets": [{}]}',
    b'{"type": "widget_click", "source": {"a": 1}, "target": "x"}',
    b'{"type": "result_click", "target": "x", "position": 0}',
    b'{"type": "result_click", "target": "x", "position": true}',
    b'{"type": "result_click", "query": 5, "target": "x"}',
    b'{"type": ["result_click"]}',
    b'"result_click"',
    b"\xff\xfe\x00",
    b"",
]


@pytest.mark.parametrize("body", MALFORMED_EVENTS, ids=range(len(MALFORMED_EVENTS)))
def test_malformed_events_are_refused_with_a_json_400(settings, body):
    response = post_event(create_app(settings).test_client(), None, raw=body)
    assert response.status_code == 400 and response.mimetype == "application/json", response.get_data()[:200]
    assert response.get_json()["error"]["code"] == "bad_request"


def test_malformed_upserts_are_refused_with_a_json_4xx(settings, tmp_path):
    client = create_app(settings.replace(index_dir=settings.index_dir)).test_client()
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    bodies = {
        "nested 100k deep": b'{"id": "deep", "title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "400-digit id": b'{"id": ' + b"9" * 400 + b', "title": "Big id"}',
        "NaN title": b'{"id": "nan", "title": NaN}',
        "float overflow": b'{"id": "big", "title": 1e999}',
    }
    for name, body in bodies.items():
        response = client.post("/api/v1/articles", data=body, content_type="application/json", headers=auth)
        assert 400 <= response.status_code < 500 and response.mimetype == "application/json", (name, response.status_code)
    assert client.get("/api/v1/articles/deep").status_code == 404


# 14.16: what is kept of a reader's query -----------------------------------------------------


def test_queries_are_scrubbed_of_contact_details_before_storage(settings):
    app = create_app(settings)
    client = app.test_client()
    query = "my name is Jane Doe jane.doe@example.com 555-0100 HIV positive overdose"
    client.get("/search", query_string={"q": query})
    for q in ("call +1 (555) 123-4567 about naloxone", "card 4111 1111 1111 1111", "zip 90210 clinics",
              "ssn 123-45-6789", "methadone 2024 dose 10 mg"):
        client.get("/api/v1/search", query_string={"q": q})
    post_event(client, {"type": "result_click", "query": "jane.doe@example.com overdose", "target": "cbd-vs-thc",
                        "position": 1})
    app.extensions["kindred.analytics"].flush()
    dump = "\n".join(sqlite3.connect(settings.analytics_db).iterdump())
    for secret in ("jane.doe", "example.com", "555-0100", "123-4567", "4111", "90210", "123-45-6789"):
        assert secret not in dump, secret
    queries = {row[0] for row in stored(settings, "SELECT query FROM searches")}
    assert "my name is Jane Doe [email] [number] HIV positive overdose" in queries
    assert "methadone 2024 dose 10 mg" in queries  # years and doses stay


def test_sessions_can_be_left_out(settings):
    app = create_app(settings.replace(analytics_sessions=False))
    client = app.test_client()
    response = client.get("/search?q=ketamine")
    assert "kindred_sid" not in "".join(response.headers.getlist("Set-Cookie"))
    client.set_cookie("kindred_sid", "0" * 32)  # a cookie from before the change
    client.get("/search?q=naloxone")
    post_event(client, {"type": "result_click", "query": "naloxone", "target": "cbd-vs-thc", "position": 1})
    app.extensions["kindred.analytics"].flush()
    assert stored(settings, "SELECT count(*), count(session) FROM searches") == [(2, 0)]
    assert stored(settings, "SELECT count(*), count(session) FROM clicks") == [(1, 0)]


def test_no_salt_outlives_its_day(settings):
    """Reader pseudonyms can only be linked to an address while their day's salt exists."""
    app = create_app(settings)
    client = app.test_client()
    client.get("/api/v1/search?q=ketamine")
    app.extensions["kindred.analytics"].flush()
    conn = sqlite3.connect(settings.analytics_db)
    with conn:
        conn.execute("INSERT INTO salts VALUES ('2020-01-01', x'00')")
    conn.close()
    purge(settings.analytics_db, settings.analytics_retention_days)
    [(day,)] = stored(settings, "SELECT day FROM salts")
    assert day > "2020-01-01"
    [(reader,)] = stored(settings, "SELECT reader FROM searches")
    assert reader and "127.0.0.1" not in reader
