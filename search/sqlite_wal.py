"""Turning a SQLite database's write-ahead log on. SQLite's busy timeout does not cover the
switch: the first connections to a new database (two workers' first writes, a writer and a
reader) can meet there, and one is told "database is locked" at once. So the switch waits
and tries again, for as long as the connection's busy timeout would have waited."""

from __future__ import annotations

import sqlite3
import time

FIRST_PAUSE_SECONDS = 0.005
LONGEST_PAUSE_SECONDS = 0.1


def use_write_ahead_log(conn: sqlite3.Connection, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    pause = FIRST_PAUSE_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, LONGEST_PAUSE_SECONDS)
