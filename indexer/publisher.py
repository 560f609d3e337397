"""A primary publishes the index state it serves as snapshots its replicas pull.

Versions are immutable once built, but upserts and deletes change the current one in place
(a new write generation). What a replica pulls is therefore a snapshot of (version,
generation): the version's files copied under the write lock, so that no upsert or switch is
half-way through while they are copied, and kept until the state changes. The lock is held
for the copy only (the store through SQLite's backup API); digests are computed after.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from indexer.locks import file_lock
from search.config import Settings
from search.replication import (DATA_DIR, LATEST_FILE, SNAPSHOT_FILE, Snapshot, describe, read_listing,
                                write_json_atomically)
from search.store import STORE_FILE, Store
from search.versions import MANIFEST_FILE, Layout

log = logging.getLogger(__name__)

# The newest snapshot, and the one before it, which a replica may still be downloading.
KEEP_SNAPSHOTS = 2
WORK_PREFIX = ".snapshot-"


class Publisher:
    def __init__(self, settings: Settings):
        self.layout = Layout(settings.resolve(settings.index_dir))
        self.write_timeout = settings.write_timeout

    def served_state(self) -> tuple[str, int] | None:
        """(version, generation) of what the primary serves now, or None before the first build."""
        name = self.layout.current_name()
        if name is None:
            return None
        return name, _generation(self.layout.version_dir(name) / STORE_FILE)

    def latest(self) -> Snapshot | None:
        return read_listing(self.layout.snapshots / LATEST_FILE)

    def publish(self) -> Snapshot | None:
        """The snapshot of the state being served, made now unless it exists already."""
        state = self.served_state()
        latest = self.latest()
        if state is None or (latest is not None and (latest.version, latest.generation) == state):
            return latest
        self.layout.snapshots.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=self.layout.snapshots))
        try:
            with file_lock(self.layout.write_lock, self.write_timeout, "an index write"):
                name = self.layout.current_name()
                generation = _generation(self.layout.version_dir(name) / STORE_FILE)
                _copy_version(self.layout.version_dir(name), work / DATA_DIR)
            data = work / DATA_DIR
            created = json.loads((data / MANIFEST_FILE).read_text(encoding="utf-8")).get("created", "")
            snapshot = describe(data, name, generation, created)
            write_json_atomically(work / SNAPSHOT_FILE, snapshot.to_json())
            final = self.layout.snapshots / snapshot.id
            shutil.rmtree(final, ignore_errors=True)  # an earlier, interrupted publication of the same state
            os.replace(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        write_json_atomically(self.layout.snapshots / LATEST_FILE, snapshot.to_json())
        log.info("published snapshot %s (%d files, %d bytes)", snapshot.id, len(snapshot.files), snapshot.size)
        self._prune()
        return snapshot

    def remove_leftovers(self) -> None:
        """Copies an interrupted publisher left behind (only one publisher runs per index)."""
        for path in self.layout.snapshots.glob(f"{WORK_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)

    def _prune(self) -> None:
        snapshots = [p for p in self.layout.snapshots.iterdir() if p.is_dir() and not p.name.startswith(".")]
        snapshots.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in snapshots[KEEP_SNAPSHOTS:]:
            shutil.rmtree(old, ignore_errors=True)


def _generation(store_path: Path) -> int:
    store = Store(store_path)
    try:
        return int(store.meta("generation", 0))
    finally:
        store.close()


def _copy_version(version_dir: Path, target: Path) -> None:
    """A consistent copy of a version: the caller holds the write lock, so nothing writes it."""
    store_files = {STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm"}
    shutil.copytree(version_dir, target, ignore=lambda directory, names: [
        n for n in names if Path(directory) == version_dir and n in store_files])
    # The store's committed pages may still sit in its write-ahead log: the backup API reads
    # them through SQLite, and the copy leaves WAL mode to be one self-contained file.
    source = sqlite3.connect(f"file:{version_dir / STORE_FILE}?mode=ro", uri=True)
    copy = sqlite3.connect(target / STORE_FILE)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()
