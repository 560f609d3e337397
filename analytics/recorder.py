"""Search and click analytics in SQLite: what readers search for, miss and click.

Writes never slow or break a reader's request: events go into an in-memory queue that a
background thread flushes in batches (WAL mode, safe with several gunicorn workers).
A batch that cannot be written is tried again a few times, then logged and counted as
failed, never raised. Only the recorder writes the file; readers open it read-only. No IP
addresses or user agents are stored; a session is an anonymous random id from a
first-party cookie, or none.

Every stored field is capped in bytes, queries are scrubbed of e-mail addresses and
numbers first (analytics.privacy), and each client address may record a limited number of
events and searches per minute (analytics.limits). Popularity counts readers, not clicks:
a reader is a pseudonym of the client address made with a salt that lives one day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from analytics.limits import PerClientLimit
from analytics.privacy import scrub, unmarked
from search.article import MAX_ID_CHARS
from search.sqlite_wal import use_write_ahead_log

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    at TEXT NOT NULL,               -- UTC ISO timestamp
    query TEXT NOT NULL,            -- normalized query text, scrubbed
    filters TEXT NOT NULL,          -- JSON {"category": [...], "tag": [...]}
    results INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    page INTEGER NOT NULL,
    session TEXT,
    reader TEXT                     -- pseudonym of the client address for one day
);
CREATE INDEX IF NOT EXISTS searches_at ON searches (at);
CREATE INDEX IF NOT EXISTS searches_query ON searches (query);
CREATE TABLE IF NOT EXISTS clicks (
    at TEXT NOT NULL,
    kind TEXT NOT NULL,             -- "result" or "widget"
    query TEXT,                     -- result clicks: the query searched, scrubbed
    source TEXT,                    -- widget clicks: the article showing the widget
    target TEXT NOT NULL,           -- the article clicked
    position INTEGER NOT NULL,      -- 1-based
    session TEXT,
    reader TEXT
);
CREATE INDEX IF NOT EXISTS clicks_at ON clicks (at);
CREATE TABLE IF NOT EXISTS impressions (
    at TEXT NOT NULL,
    source TEXT NOT NULL,           -- the article showing the widget
    targets TEXT NOT NULL,          -- JSON list of the related articles shown, in order
    session TEXT
);
CREATE INDEX IF NOT EXISTS impressions_at ON impressions (at);
-- The salt of today's reader pseudonyms; earlier days' salts are deleted, so a pseudonym
-- cannot be linked to an address once its day is over.
CREATE TABLE IF NOT EXISTS salts (day TEXT PRIMARY KEY, salt BLOB NOT NULL);
"""
COLUMNS = {"searches": 8, "clicks": 8, "impressions": 4}
READER_TABLES = ("searches", "clicks")

# Stored sizes, in UTF-8 bytes (a cut never splits a character).
MAX_TEXT_BYTES = 300  # queries
MAX_ID_BYTES = 4 * MAX_ID_CHARS  # article ids: their whole 200 characters
MAX_FILTER_VALUES = 5  # per filter (category, tag)
MAX_LABEL_BYTES = 100  # each filter value
FLUSH_SECONDS = 1.0
BUSY_TIMEOUT_SECONDS = 10.0
# A batch that could not be written (the file locked past the timeout, a full disk) is tried
# again with the next, this many times in all, before it is dropped and counted as failed.
WRITE_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.5
FLUSH_BATCH = 200
QUEUE_LIMIT = 10_000
PURGE_EVERY_SECONDS = 6 * 3600
POPULAR_DAYS = 30
# Popularity counts an article or a query once this many different readers chose it, so no
# single client can make one popular.
MIN_READERS = 2


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def period_start(days: int) -> str:
    """The UTC timestamp `days` ago: where a report period starts."""
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="milliseconds")


def _cut(value: Any, max_bytes: int) -> str | None:
    if value is None:
        return None
    return str(value).encode("utf-8", "replace")[:max_bytes].decode("utf-8", "ignore")


def _filters(filters: Mapping[str, Iterable[str]]) -> str:
    capped = {name: [_cut(v, MAX_LABEL_BYTES) for v in list(values)[:MAX_FILTER_VALUES]]
              for name, values in filters.items()}
    return json.dumps(capped, sort_keys=True, ensure_ascii=False)


def connect(path: Path) -> sqlite3.Connection:
    """The recording connection, the database made or brought up to date first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
    use_write_ahead_log(conn, BUSY_TIMEOUT_SECONDS)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    for table in READER_TABLES:  # databases from before reader pseudonyms
        if "reader" not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN reader TEXT")
    return conn


@dataclass
class Counters:
    recorded: int = 0
    dropped: int = 0  # queue full
    failed: int = 0  # database errors
    limited: int = 0  # over a client's events or searches per minute


class Analytics:
    """Buffered recorder; one per process. `enabled=False` records nothing."""

    def __init__(self, path: Path, enabled: bool = True, retention_days: int = 90, per_minute: int = 0,
                 store_sessions: bool = True):
        self.path = path
        self.enabled = enabled
        self.retention_days = retention_days
        self.store_sessions = store_sessions
        self.counters = Counters()
        self._limit = PerClientLimit(per_minute)
        self._queue: queue.Queue[tuple[str, tuple, str | None]] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._salt: tuple[str, bytes] | None = None  # (day, salt), writer thread only

    # Recording (request threads) -------------------------------------------------------

    def allow_event(self, client: str) -> bool:
        """False once `client` sent its events for this minute (the API answers 429)."""
        allowed = self._limit.allow("event", client)
        self.counters.limited += not allowed
        return allowed

    def record_search(self, query: str, filters: Mapping[str, Iterable[str]], results: int, latency_ms: float,
                      page: int, session: str | None, client: str) -> None:
        if not self.enabled:
            return
        if not self._limit.allow("search", client):  # answered, just not recorded
            self.counters.limited += 1
            return
        self._put("searches", (_now(), _cut(scrub(query), MAX_TEXT_BYTES) or "", _filters(filters), results,
                               round(latency_ms, 2), page, self._session(session)), client)

    def record_event(self, event: Mapping[str, Any], session: str | None, client: str) -> None:
        """A validated event (analytics.events.EVENT_FIELDS); one without the article it is
        about is accepted and not recorded."""
        kind = event["type"]
        source = _cut(event.get("source"), MAX_ID_BYTES)
        if kind == "widget_impression":
            if source:
                targets = [_cut(t, MAX_ID_BYTES) for t in event.get("targets") or ()]
                self._put("impressions", (_now(), source, json.dumps(targets, ensure_ascii=False),
                                          self._session(session)), client)
        elif event.get("target"):
            self._put("clicks", (
                _now(), "widget" if kind == "widget_click" else "result",
                _cut(scrub(event.get("query") or ""), MAX_TEXT_BYTES) or None, source,
                _cut(event["target"], MAX_ID_BYTES), event.get("position") or 1, self._session(session),
            ), client)

    def _session(self, session: str | None) -> str | None:
        return session if self.store_sessions else None

    def _put(self, table: str, row: tuple, client: str) -> None:
        if not self.enabled:
            return
        self._ensure_writer()
        try:
            self._queue.put_nowait((table, row, client))
        except queue.Full:
            self.counters.dropped += 1

    # Writing (background thread) -------------------------------------------------------

    def _ensure_writer(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kindred-analytics", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        next_purge = 0.0
        unwritten: list[tuple[str, tuple, str | None]] = []  # a batch that failed, `attempts` times
        attempts = 0
        while True:
            batch = unwritten + self._drain()
            if not batch:
                continue
            try:
                conn = conn or connect(self.path)
                self._write(conn, batch)
            except (sqlite3.Error, OSError) as exc:
                conn, self._salt = None, None  # the salt may have been rolled back with the batch
                attempts += 1
                if attempts < WRITE_ATTEMPTS:
                    unwritten = batch
                    log.warning("could not record %d analytics events yet (%s); trying again", len(batch), exc)
                    time.sleep(RETRY_PAUSE_SECONDS * attempts)
                    continue
                self.counters.failed += len(batch)
                log.warning("could not record %d analytics events (%s); searches go on", len(batch), exc)
            self._settle(batch)
            unwritten, attempts = [], 0
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                try:
                    purge(self.path, self.retention_days)
                except (sqlite3.Error, OSError) as exc:
                    log.warning("could not delete old analytics events (%s)", exc)

    def _drain(self) -> list[tuple[str, tuple, str | None]]:
        batch: list[tuple[str, tuple, str | None]] = []
        try:
            batch.append(self._queue.get(timeout=FLUSH_SECONDS))
        except queue.Empty:
            return batch
        deadline = time.monotonic() + 0.05
        while len(batch) < FLUSH_BATCH and time.monotonic() < deadline:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, conn: sqlite3.Connection, batch: list[tuple[str, tuple, str | None]]) -> None:
        with conn:
            salt = self._todays_salt(conn)
            for table, row, client in batch:
                if table in READER_TABLES:
                    row += (hmac.new(salt, client.encode(), hashlib.sha256).hexdigest()[:16] if client else None,)
                marks = ",".join("?" * COLUMNS[table])
                conn.execute(f"INSERT INTO {table} VALUES ({marks})", row)
        self.counters.recorded += len(batch)

    def _todays_salt(self, conn: sqlite3.Connection) -> bytes:
        day = _now()[:10]
        if self._salt is None or self._salt[0] != day:
            conn.execute("INSERT OR IGNORE INTO salts (day, salt) VALUES (?, randomblob(16))", (day,))
            conn.execute("DELETE FROM salts WHERE day < ?", (day,))
            self._salt = (day, conn.execute("SELECT salt FROM salts WHERE day = ?", (day,)).fetchone()[0])
        return self._salt[1]

    def _settle(self, batch: list) -> None:
        for _ in batch:
            self._queue.task_done()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued event is written or given up on (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)


# Reading -----------------------------------------------------------------------------


def _read(path: Path, sql: str, params: Iterable[Any]) -> list[tuple]:
    """Rows of one query, or none when the database is missing or unreadable."""
    if not path.exists():
        return []
    try:
        # Read-only: the recorder alone makes and changes the file.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        log.warning("could not read analytics (%s)", exc)
        return []


def article_readers(path: Path, days: int = POPULAR_DAYS, limit: int = 1000) -> dict[str, int]:
    """Article id -> how many readers clicked it (results and widget), most first; only
    articles at least MIN_READERS readers clicked. A client counts once per article and
    day, however often it clicks."""
    found = _read(path, "SELECT target, count(DISTINCT reader) AS readers FROM clicks WHERE at >= ? GROUP BY target "
                        "HAVING readers >= ? ORDER BY readers DESC, target LIMIT ?",
                  (period_start(days), MIN_READERS, limit))
    return dict(found)


def query_readers(path: Path, days: int = POPULAR_DAYS, limit: int = 5000) -> dict[str, int]:
    """Query -> how many readers searched it and found something, or clicked one of its
    results (at least MIN_READERS); the privacy marks taken out of the queries."""
    since = period_start(days)
    found = _read(path, """
        SELECT query, count(DISTINCT reader) AS readers FROM (
            SELECT query, reader FROM searches WHERE at >= ? AND results > 0 AND query != ''
            UNION SELECT query, reader FROM clicks WHERE at >= ? AND kind = 'result' AND query IS NOT NULL)
        GROUP BY query HAVING readers >= ? ORDER BY readers DESC, query LIMIT ?""", (since, since, MIN_READERS, limit))
    readers: Counter[str] = Counter()
    for query, count in found:
        readers[unmarked(query)] += count
    return dict(readers)


def purge(path: Path, days: int) -> int:
    """Delete events older than `days` (and any earlier day's salt); returns how many events went."""
    cutoff = period_start(days)
    conn = connect(path)
    try:
        with conn:
            conn.execute("DELETE FROM salts WHERE day < ?", (_now()[:10],))
            return sum(conn.execute(f"DELETE FROM {t} WHERE at < ?", (cutoff,)).rowcount
                       for t in ("searches", "clicks", "impressions"))
    finally:
        conn.close()


def rows(conn: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, tuple(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor]
