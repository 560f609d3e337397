"""The journal of API writes: upserts and deletes that every full build replays.

Articles that reach Kindred through the API exist in no source file, so a rebuild from
files alone would lose them. The journal keeps them, in order, in SQLite.

A write is journaled as one *pending* batch before it is applied, and marked committed
once the store has committed it (indexer/build.py). A pending batch is a write that failed
or was interrupted: it is resolved at the next write or build (kept if the store has it,
else undone and removed), and builds replay committed changes only, so a write answered
with an error never comes back.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from search.article import Article
from search.sqlite_wal import use_write_ahead_log

SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    doc TEXT,                      -- the article as JSON; NULL for a delete
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""
BUSY_TIMEOUT_SECONDS = 30.0
# Added to journals written before batches had a state (their changes are all committed).
BATCH_COLUMNS = {
    "batch": "ALTER TABLE changes ADD COLUMN batch INTEGER",  # the seq of the batch's first change
    "committed": "ALTER TABLE changes ADD COLUMN committed INTEGER NOT NULL DEFAULT 1",
}


@dataclass(frozen=True)
class Batch:
    """One write's changes: seqs `first` to `last`."""

    first: int
    last: int
    ids: tuple[str, ...]


class Journal:
    def __init__(self, path: Path):
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)
        use_write_ahead_log(conn, BUSY_TIMEOUT_SECONDS)
        conn.executescript(SCHEMA)
        present = {row[1] for row in conn.execute("PRAGMA table_info(changes)")}
        for column, statement in BATCH_COLUMNS.items():
            if column not in present:
                conn.execute(statement)
        return conn

    def begin(self, upserts: Iterable[Article] = (), deletes: Iterable[str] = ()) -> Batch:
        """Record a write as a pending batch, in one transaction."""
        rows = [(a.id, json.dumps(a.to_dict(), ensure_ascii=False)) for a in upserts]
        rows += [(i, None) for i in deletes]
        with closing(self._connect()) as conn, conn:
            seqs = [conn.execute("INSERT INTO changes (id, doc, committed) VALUES (?, ?, 0)", row).lastrowid
                    for row in rows]
            conn.execute("UPDATE changes SET batch = ? WHERE seq BETWEEN ? AND ?", (seqs[0], seqs[0], seqs[-1]))
        return Batch(seqs[0], seqs[-1], tuple(row[0] for row in rows))

    def commit(self, batch: Batch) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute("UPDATE changes SET committed = 1 WHERE batch = ?", (batch.first,))

    def discard(self, batch: Batch) -> None:
        """Forget a pending batch (its write was undone)."""
        with closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM changes WHERE batch = ? AND committed = 0", (batch.first,))

    def pending(self) -> list[Batch]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT batch, seq, id FROM changes WHERE committed = 0 ORDER BY seq").fetchall()
        batches: dict[int, list[tuple[int, str]]] = {}
        for batch, seq, article_id in rows:
            batches.setdefault(batch, []).append((seq, article_id))
        return [Batch(first, changes[-1][0], tuple(i for _, i in changes)) for first, changes in batches.items()]

    def last_seq(self) -> int:
        """The last committed change."""
        if not self.path.exists():
            return 0
        with closing(self._connect()) as conn:
            return conn.execute("SELECT coalesce(max(seq), 0) FROM changes WHERE committed = 1").fetchone()[0]

    def changes(self, after: int = 0, upto: int | None = None) -> list[tuple[int, str, Article | None]]:
        """(seq, id, article or None for a delete) of committed changes after `after` (and
        up to `upto`): the latest change per id, in order."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT seq, id, doc FROM changes WHERE committed = 1 AND seq > ? AND seq <= ? ORDER BY seq",
                (after, upto if upto is not None else 2**62)).fetchall()
        latest: dict[str, tuple[int, str | None]] = {}
        for seq, article_id, doc in rows:
            latest.pop(article_id, None)
            latest[article_id] = (seq, doc)
        return [(seq, i, Article.from_mapping(json.loads(d)) if d else None) for i, (seq, d) in latest.items()]

    def clear(self) -> None:
        if self.path.exists():
            with closing(self._connect()) as conn, conn:
                conn.execute("DELETE FROM changes")
