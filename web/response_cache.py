"""Search API responses as sent, kept by (what readers see, normalized request): in each
worker's memory, and in one small SQLite file shared by the server's workers, so a popular
query of a Zipf-shaped log costs a lookup in whichever worker it lands on.

The state in every key (index version, write generation, synonyms and rules in force, and
the server's settings) is the same in every worker, so a rebuild, an upsert, an edited rules
file or a restart with other settings is never answered from an older entry. The shared file is only a cache: any SQLite error (locked, full disk,
corrupt) is a miss, logged once, never an error for the reader. Its size is bounded by
entries and by the size of one body.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from typing import NamedTuple

from search.caches import BoundedCache
from search.config import Settings
from search.sqlite_wal import use_write_ahead_log

log = logging.getLogger(__name__)

FILE_NAME = "responses.sqlite"
MAX_SHARED_BODY = 64 * 1024  # larger bodies (long pages of results) stay in the worker's memory only
PRUNE_EVERY = 64  # inserts between two trims of the file to its bound
BUSY_TIMEOUT_S = 0.05  # a write that would wait longer is skipped: the cache must not slow a request
REOPEN_SECONDS = 30.0  # after a failed open, the shared file is tried again this long after

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    body BLOB NOT NULL,
    meta TEXT NOT NULL
);
"""


class Cached(NamedTuple):
    body: bytes
    meta: dict  # what the request log needs without the response object (query, total, page)


class ResponseCache:
    def __init__(self, settings: Settings):
        self.path = settings.resolve(settings.index_dir) / FILE_NAME
        worker_entries, shared_entries = settings.search_cache_size, settings.search_shared_cache_size
        self._settings = hashlib.blake2b(repr(settings).encode(), digest_size=8).hexdigest()
        self.shared_entries = shared_entries
        self._memory = BoundedCache(worker_entries)  # keyed by (state, key); 0 keeps nothing
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None  # the process that opened _conn (workers are forked)
        self._next_open = 0.0  # monotonic time before which a failed open is not tried again
        self._inserts = 0
        self._pruned_state: str | None = None
        self._failed = False

    def get(self, state: str, key: str) -> Cached | None:
        state = f"{state}.{self._settings}"
        found = self._memory.get((state, key))
        if found is not None:
            return found
        row = self._shared("SELECT body, meta FROM responses WHERE key = ? AND state = ?", (key, state))
        if row is None:
            return None
        cached = Cached(row[0], json.loads(row[1]))
        self._memory.put((state, key), cached)
        return cached

    def put(self, state: str, key: str, cached: Cached) -> None:
        state = f"{state}.{self._settings}"
        self._memory.put((state, key), cached)
        if len(cached.body) > MAX_SHARED_BODY or self.shared_entries <= 0:
            return
        with self._lock:
            conn = self._connection()
            if conn is None:
                return
            try:
                with conn:
                    if self._pruned_state != state:  # a new state: what the old one kept is dead
                        conn.execute("DELETE FROM responses WHERE state != ?", (state,))
                        self._pruned_state = state
                    conn.execute("INSERT OR REPLACE INTO responses (key, state, body, meta) VALUES (?, ?, ?, ?)",
                                 (key, state, cached.body, json.dumps(cached.meta)))
                    self._inserts += 1
                    if self._inserts % PRUNE_EVERY == 0:
                        # Rowids grow with every insert: all but the newest `shared_entries` go.
                        conn.execute("DELETE FROM responses WHERE rowid <= "
                                     "(SELECT MAX(rowid) FROM responses) - ?", (self.shared_entries,))
            except sqlite3.Error as exc:
                self._warn(exc)

    def _shared(self, sql: str, params: tuple) -> tuple | None:
        if self.shared_entries <= 0:
            return None
        with self._lock:
            conn = self._connection()
            if conn is None:
                return None
            try:
                return conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                self._warn(exc)
                return None

    def _connection(self) -> sqlite3.Connection | None:
        if self._pid != os.getpid():  # never use a connection inherited through fork
            self._pid, self._conn, self._next_open = os.getpid(), None, 0.0
        if self._conn is not None or time.monotonic() < self._next_open:
            return self._conn
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            use_write_ahead_log(conn, BUSY_TIMEOUT_S)
            conn.execute("PRAGMA synchronous = OFF")  # a cache: a crash may lose it, never corrupt an answer
            conn.executescript(SCHEMA)
            self._conn = conn
        except sqlite3.Error as exc:
            self._next_open = time.monotonic() + REOPEN_SECONDS
            self._warn(exc)
        return self._conn

    def _warn(self, exc: sqlite3.Error) -> None:
        if not self._failed:
            self._failed = True
            log.warning("the shared response cache %s is not usable (%s); searches are not shared", self.path, exc)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
