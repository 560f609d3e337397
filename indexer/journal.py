"""The journal of API writes: upserts and deletes that every full build replays.

Articles that reach Kindred through the API exist in no source file, so a rebuild from
files alone would lose them. The journal keeps them, in order, in SQLite.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterable

from search.article import Article

SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    doc TEXT,                      -- the article as JSON; NULL for a delete
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""


class Journal:
    def __init__(self, path: Path):
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        return conn

    def record_upserts(self, articles: Iterable[Article]) -> None:
        rows = [(a.id, json.dumps(a.to_dict(), ensure_ascii=False)) for a in articles]
        with self._connect() as conn:
            conn.executemany("INSERT INTO changes (id, doc) VALUES (?, ?)", rows)

    def record_deletes(self, ids: Iterable[str]) -> None:
        with self._connect() as conn:
            conn.executemany("INSERT INTO changes (id, doc) VALUES (?, NULL)", [(i,) for i in ids])

    def last_seq(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]

    def changes_since(self, seq: int) -> list[tuple[str, Article | None]]:
        """(id, article or None for a delete), the latest change per id, in order."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute("SELECT id, doc FROM changes WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        latest: dict[str, str | None] = {}
        for article_id, doc in rows:
            latest.pop(article_id, None)
            latest[article_id] = doc
        return [(i, Article.from_mapping(json.loads(d)) if d else None) for i, d in latest.items()]

    def clear(self) -> None:
        if self.path.exists():
            with self._connect() as conn:
                conn.execute("DELETE FROM changes")
