"""One open index version at one write generation, and the read side's config files.

A `Snapshot` holds the version's engine and store open for every request of a process, and
what it works out on demand from them (spelling verdicts, document frequencies, the written
forms of stems), bounded, and kept until the version or its generation changes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterable

from search.caches import BoundedCache
from search.config import Settings
from search.engine import Engine, Ranking
from search.engines import open_engine
from search.store import STORE_FILE, Store
from search.versions import BrokenIndex, naming_broken_part, read_manifest

log = logging.getLogger(__name__)

# What the open version works out on demand is kept within these bounds (entries; for the
# written forms, words summed over the stems kept).
CORRECTIONS_CACHED = 20_000
DOC_FREQUENCIES_CACHED = 50_000
WRITTEN_FORMS_CACHED = 100_000
# A longer term's document frequency or written forms are looked up each time: a cheap
# look-up, while caching it could hold a kilobyte per entry.
LONGEST_CACHED_TERM = 64
CONFIG_CHECK_SECONDS = 1.0


class Snapshot:
    """One open index version at one data_version: engine, store and derived state."""

    def __init__(self, name: str, path: Path, settings: Settings):
        self.name = name
        self.manifest = read_manifest(path)
        self.store = Store(path / STORE_FILE)
        try:
            with naming_broken_part(path / STORE_FILE):  # these read every table readers use
                self.data_version = self.store.data_version()
                self.generation = int(self.store.meta("generation", 0))
                self.labels = self.store.labels()
            with naming_broken_part(path / "engine"):
                self.engine: Engine = open_engine(self.manifest["engine"], path / "engine",
                                                  Ranking.from_settings(settings))
        except BrokenIndex:
            self.store.close()
            raise
        self._clear_derived()

    def _clear_derived(self) -> None:
        # Worked out from this state of the index on demand, kept until it changes.
        self.corrections = BoundedCache(CORRECTIONS_CACHED)
        self.doc_frequencies = BoundedCache(DOC_FREQUENCIES_CACHED)
        self.written_forms = BoundedCache(WRITTEN_FORMS_CACHED, getsizeof=len)

    def doc_frequency(self, term: str) -> int:
        if len(term) > LONGEST_CACHED_TERM:
            return self.engine.doc_frequency(term)
        found = self.doc_frequencies.get(term)
        if found is None:
            found = self.engine.doc_frequency(term)
            self.doc_frequencies.put(term, found)
        return found

    def words_of(self, terms: Iterable[str]) -> dict[str, str]:
        """Each written form (folded, lower-case) the index has of `terms` -> its term: what
        highlighting looks for in stored text."""
        terms = set(terms)
        found: dict[str, str] = {}
        missing = []
        for term in terms:
            words = self.written_forms.get(term)
            if words is None:
                missing.append(term)
            else:
                found.update(dict.fromkeys(words, term))
        if missing:
            looked_up = self.store.written_forms(missing)
            for term in missing:
                words = looked_up.get(term, ())
                found.update(dict.fromkeys(words, term))
                if len(term) <= LONGEST_CACHED_TERM:
                    self.written_forms.put(term, tuple(words))
        return found

    @property
    def state(self) -> str:
        """Identifies what readers see: the same in every worker process."""
        return f"{self.name}.{self.generation}"

    def refresh(self) -> bool:
        current = self.store.data_version()
        if current == self.data_version:
            return False
        self.engine.refresh()
        self.labels = self.store.labels()
        self.generation = int(self.store.meta("generation", 0))
        self.data_version = current
        self._clear_derived()
        return True

    def close(self) -> None:
        self.engine.close()
        self.store.close()


class Watched:
    """A config file re-read when its mtime changes (checked at most once a second)."""

    def __init__(self, path: Path, load):
        self.path = path
        self._load = load
        self._mtime: float | None = None
        self._checked = 0.0
        self.value = load(path)
        self._mtime = self._stat()

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def stamp(self) -> str:
        """Changes when the file does (its mtime, the same in every process)."""
        self.get()
        return str(self._mtime)

    def get(self):
        now = time.monotonic()
        if now - self._checked >= CONFIG_CHECK_SECONDS:
            self._checked = now
            mtime = self._stat()
            if mtime != self._mtime:
                try:
                    self.value = self._load(self.path)
                    log.info("reloaded %s", self.path)
                except Exception:  # a broken edit keeps the last good version serving
                    log.exception("could not reload %s; keeping the previous version", self.path)
                self._mtime = mtime
        return self.value
