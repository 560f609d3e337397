"""Search and click analytics in SQLite: what readers search for, miss and click.

Writes never slow or break a reader's request: events go into an in-memory queue that a
background thread flushes in batches (WAL mode, safe with several gunicorn workers).
Failures are logged and counted, never raised. No IP addresses or user agents are
stored; a session is an anonymous random id from a first-party cookie, or none.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    at TEXT NOT NULL,               -- UTC ISO timestamp
    query TEXT NOT NULL,            -- normalized query text
    filters TEXT NOT NULL,          -- JSON {"category": [...], "tag": [...]}
    results INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    page INTEGER NOT NULL,
    session TEXT
);
CREATE INDEX IF NOT EXISTS searches_at ON searches (at);
CREATE INDEX IF NOT EXISTS searches_query ON searches (query);
CREATE TABLE IF NOT EXISTS clicks (
    at TEXT NOT NULL,
    kind TEXT NOT NULL,             -- "result" or "widget"
    query TEXT,                     -- result clicks: the query searched
    source TEXT,                    -- widget clicks: the article showing the widget
    target TEXT NOT NULL,           -- the article clicked
    position INTEGER NOT NULL,      -- 1-based
    session TEXT
);
CREATE INDEX IF NOT EXISTS clicks_at ON clicks (at);
CREATE TABLE IF NOT EXISTS impressions (
    at TEXT NOT NULL,
    source TEXT NOT NULL,           -- the article showing the widget
    targets TEXT NOT NULL,          -- JSON list of the related articles shown, in order
    session TEXT
);
CREATE INDEX IF NOT EXISTS impressions_at ON impressions (at);
"""

MAX_TEXT = 300
MAX_TARGETS = 20
FLUSH_SECONDS = 1.0
FLUSH_BATCH = 200
QUEUE_LIMIT = 10_000


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)[:MAX_TEXT]


def _position(value: Any) -> int:
    try:
        return max(1, min(int(value), 1000))
    except (TypeError, ValueError):
        return 1


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


@dataclass
class Counters:
    recorded: int = 0
    dropped: int = 0  # queue full
    failed: int = 0  # database errors


PURGE_EVERY_SECONDS = 6 * 3600


class Analytics:
    """Buffered recorder; one per process. `enabled=False` records nothing."""

    def __init__(self, path: Path, enabled: bool = True, retention_days: int = 90):
        self.path = path
        self.enabled = enabled
        self.retention_days = retention_days
        self.counters = Counters()
        self._queue: queue.Queue[tuple[str, tuple]] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # Recording (request threads) -------------------------------------------------------

    def record_search(self, query: str, filters: dict[str, list[str]], results: int, latency_ms: float,
                      page: int, session: str | None) -> None:
        self._put("searches", (_now(), _text(query) or "", json.dumps(filters, sort_keys=True), results,
                               round(latency_ms, 2), page, session))

    def record_event(self, event: dict[str, Any], session: str | None) -> None:
        kind = event.get("type")
        if kind == "widget_impression":
            targets = [str(t)[:MAX_TEXT] for t in (event.get("targets") or [])[:MAX_TARGETS]]
            self._put("impressions", (_now(), _text(event.get("source")) or "", json.dumps(targets), session))
        elif kind in ("widget_click", "result_click"):
            self._put("clicks", (
                _now(), "widget" if kind == "widget_click" else "result", _text(event.get("query")),
                _text(event.get("source")), _text(event.get("target")) or "", _position(event.get("position")),
                session,
            ))

    def _put(self, table: str, row: tuple) -> None:
        if not self.enabled:
            return
        self._ensure_writer()
        try:
            self._queue.put_nowait((table, row))
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
        while True:
            batch = self._drain(block=True)
            if not batch:
                continue
            try:
                conn = conn or connect(self.path)
                self._write(conn, batch)
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                    purge(self.path, self.retention_days)
            except (sqlite3.Error, OSError) as exc:
                self.counters.failed += len(batch)
                log.warning("could not record %d analytics events (%s); searches go on", len(batch), exc)
                conn = None

    def _drain(self, block: bool) -> list[tuple[str, tuple]]:
        batch: list[tuple[str, tuple]] = []
        try:
            batch.append(self._queue.get(timeout=FLUSH_SECONDS) if block else self._queue.get_nowait())
        except queue.Empty:
            return batch
        deadline = time.monotonic() + 0.05
        while len(batch) < FLUSH_BATCH and time.monotonic() < deadline:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, conn: sqlite3.Connection, batch: list[tuple[str, tuple]]) -> None:
        if not batch:
            return
        columns = {"searches": 7, "clicks": 7, "impressions": 4}
        with conn:
            for table, row in batch:
                marks = ",".join("?" * columns[table])
                conn.execute(f"INSERT INTO {table} VALUES ({marks})", row)
        self.counters.recorded += len(batch)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued events are written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1 if self._thread else 0)  # let the last batch commit


def popular(path: Path, days: int = 30, limit: int = 5) -> list[str]:
    """Ids of the articles readers clicked most (results and widget), most first."""
    if not path.exists():
        return []
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="milliseconds")
    try:
        conn = connect(path)
        try:
            found = conn.execute("SELECT target FROM clicks WHERE at >= ? GROUP BY target ORDER BY count(*) DESC, "
                                 "target LIMIT ?", (since, limit)).fetchall()
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        log.warning("could not read popular articles (%s)", exc)
        return []
    return [row[0] for row in found]


def purge(path: Path, days: int) -> int:
    """Delete events older than `days`; returns how many rows went."""
    cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="milliseconds")
    conn = connect(path)
    try:
        with conn:
            return sum(conn.execute(f"DELETE FROM {t} WHERE at < ?", (cutoff,)).rowcount
                       for t in ("searches", "clicks", "impressions"))
    finally:
        conn.close()


def rows(conn: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, tuple(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor]
