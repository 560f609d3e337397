"""Reading the events of several servers together. Each server (a primary and its replicas)
records into its own database; the reports and the tuning proposals read this server's and
copies of the others' as one, so nothing a replica saw is lost.

Every database is opened read-only and attached to one in-memory connection whose temporary
views (`searches`, `clicks`, `impressions`) are the union of them all: the report queries run
unchanged over one server or several. Session ids are random 128-bit cookie values, so
different sessions never collide; a reader whose cookie a load balancer sent to two servers
is one session on both, and is counted once.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from analytics.recorder import SCHEMA
from search.config import Settings

# The columns the reports read; `reader` is missing from databases made before reader
# pseudonyms (a read-only database is not migrated), and reads as NULL there.
COLUMNS = {
    "searches": ("at", "query", "filters", "results", "latency_ms", "page", "session", "reader"),
    "clicks": ("at", "kind", "query", "source", "target", "position", "session", "reader"),
    "impressions": ("at", "source", "targets", "session"),
}
OPTIONAL_COLUMNS = {"reader"}


class UnreadableAnalytics(Exception):
    """A database to be read is missing, cannot be opened, or is not Kindred's analytics."""


@dataclass(frozen=True)
class EventDatabases:
    """Which databases to read: this server's own (missing: nothing recorded yet) and named
    others (each must be there)."""

    own: Path | None = None
    others: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> "EventDatabases":
        return cls(settings.resolve(settings.analytics_db),
                   tuple(settings.resolve(Path(p)) for p in settings.analytics_merge_dbs))

    @classmethod
    def named(cls, paths: Sequence[Path]) -> "EventDatabases":
        return cls(None, tuple(paths))


@dataclass
class Events:
    conn: sqlite3.Connection
    read: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # databases left out (lenient reading only)


@contextmanager
def open_events(databases: EventDatabases, strict: bool = True) -> Iterator[Events]:
    """One read-only connection over every database. A database that cannot be read raises
    UnreadableAnalytics when `strict`, else is left out with a warning (the dashboard)."""
    conn = sqlite3.connect(":memory:", uri=True)
    try:
        events = Events(conn)
        tables: list[dict[str, set[str]]] = []  # per database read: the columns of each table
        own = [databases.own] if databases.own is not None and databases.own.exists() else []
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)
        for path in own + list(databases.others):
            try:
                if len(events.read) == limit:
                    raise UnreadableAnalytics(f"{path}: not read, at most {limit} analytics databases are read "
                                              "together")
                tables.append(_attach(conn, path, f"db{len(events.read)}"))
                events.read.append(path)
            except UnreadableAnalytics as exc:
                if strict:
                    raise
                events.warnings.append(str(exc))
        _union(conn, tables)
        yield events
    finally:
        conn.close()


def _attach(conn: sqlite3.Connection, path: Path, alias: str) -> dict[str, set[str]]:
    if not path.is_file():
        raise UnreadableAnalytics(f"{path}: no such analytics database")
    try:
        conn.execute(f"ATTACH DATABASE ? AS {alias}", (path.resolve().as_uri() + "?mode=ro",))
    except sqlite3.Error as exc:
        raise UnreadableAnalytics(f"{path}: cannot be read ({exc})") from exc
    try:
        found = {table: {row[1] for row in conn.execute(f"PRAGMA {alias}.table_info({table})")} for table in COLUMNS}
    except sqlite3.Error as exc:
        conn.execute(f"DETACH DATABASE {alias}")
        raise UnreadableAnalytics(f"{path}: cannot be read ({exc})") from exc
    for table, columns in COLUMNS.items():
        if not set(columns) - OPTIONAL_COLUMNS <= found[table]:
            conn.execute(f"DETACH DATABASE {alias}")
            raise UnreadableAnalytics(f"{path} is not a Kindred analytics database (no {table} table as Kindred "
                                      "writes it)")
    return found


def _union(conn: sqlite3.Connection, tables: list[dict[str, set[str]]]) -> None:
    if not tables:
        conn.executescript(SCHEMA)  # empty tables: nothing recorded yet
        return
    for table, columns in COLUMNS.items():
        selects = []
        for number, found in enumerate(tables):
            shown = ", ".join(c if c in found[table] else f"NULL AS {c}" for c in columns)
            selects.append(f"SELECT {shown} FROM db{number}.{table}")
        conn.execute(f"CREATE TEMP VIEW {table} AS " + " UNION ALL ".join(selects))
