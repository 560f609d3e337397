"""Editor sign-in state shared by every worker, in one SQLite file (setting `admin_db`).

- Sessions live on the server: the editor's cookie carries a random id, the file keeps a
  digest of it until the editor signs out (or SESSION_SECONDS pass), so a copied cookie
  stops working at sign-out.
- Wrong admin tokens are counted per client, whether typed into the sign-in form or sent
  as `Authorization: Bearer`: after MAX_FAILURES within FAILURE_WINDOW_S, that client is
  answered 429 until the oldest of them leaves the window, whichever worker it reaches
  (about 20 guesses an hour, where 1,064 a second were answered).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

from web.context import client_address, settings

SESSION_SECONDS = 12 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS failures (client TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_by_client ON failures (client, at);
"""


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Editors:
    def __init__(self, path: Path):
        self.path = path
        self._created = False

    def _connect(self) -> sqlite3.Connection:
        # A rollback journal, not WAL: admin traffic is light, and checking a token then only
        # reads the file (a WAL reader needs a shared-memory file it may have to create).
        if not self._created:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as conn:
                conn.executescript(SCHEMA)
            self._created = True
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    # Sessions --------------------------------------------------------------------------

    def open_session(self) -> str:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        with closing(self._connect()) as conn:
            conn.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            conn.execute("INSERT INTO sessions VALUES (?, ?)", (_digest(session_id), now + SESSION_SECONDS))
        return session_id

    def session_valid(self, session_id: object) -> bool:
        if not isinstance(session_id, str):
            return False
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT expires FROM sessions WHERE digest = ?", (_digest(session_id),)).fetchone()
        return row is not None and row[0] >= time.time()

    def close_session(self, session_id: object) -> None:
        if isinstance(session_id, str):
            with closing(self._connect()) as conn:
                conn.execute("DELETE FROM sessions WHERE digest = ?", (_digest(session_id),))

    # Wrong tokens ------------------------------------------------------------------------

    def recent_failures(self, client: str) -> list[float]:
        """When `client`'s latest wrong tokens within the window came (at most MAX_FAILURES)."""
        with closing(self._connect()) as conn:
            return [at for (at,) in conn.execute(
                "SELECT at FROM failures WHERE client = ? AND at >= ? ORDER BY at DESC LIMIT ?",
                (client, time.time() - FAILURE_WINDOW_S, MAX_FAILURES))]

    def failed(self, client: str) -> None:
        now = time.time()
        with closing(self._connect()) as conn:
            conn.execute("DELETE FROM failures WHERE at < ?", (now - FAILURE_WINDOW_S,))
            conn.execute("INSERT INTO failures VALUES (?, ?)", (client, now))

    def succeeded(self, client: str) -> None:
        with closing(self._connect()) as conn:
            conn.execute("DELETE FROM failures WHERE client = ?", (client,))


def editors() -> Editors:
    return current_app.extensions["kindred.editors"]


def admin_token_matches(supplied: str) -> bool:
    """Whether `supplied` is the admin token. A wrong one counts against the client; a
    client with too many is refused (429, with Retry-After) before its token is even read."""
    client = client_address(request)
    store = editors()
    failures = store.recent_failures(client)
    if len(failures) >= MAX_FAILURES:
        wait = int(failures[-1] + FAILURE_WINDOW_S - time.time()) + 1
        raise TooManyRequests(f"Too many wrong admin tokens from {client}: try again in {wait} seconds.",
                              retry_after=wait)
    if hmac.compare_digest(supplied.encode(), settings().admin_token.encode()):
        if failures:
            store.succeeded(client)
        return True
    store.failed(client)
    return False
