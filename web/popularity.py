"""Reader popularity for autocomplete and the empty search page, from analytics: worked out
once per worker when first needed, then again in the background every few minutes, so a
reader's request never waits for it (and no keystroke queries the analytics database)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from analytics.recorder import article_readers, query_readers
from search.suggest import Popularity

REFRESH_SECONDS = 300.0


class PopularityFeed:
    def __init__(self, path: Path, enabled: bool = True):
        self.path = path
        self.enabled = enabled
        self._value: Popularity | None = None
        self._loaded = 0.0
        self._refreshing = threading.Lock()

    def get(self) -> Popularity:
        if not self.enabled:
            return Popularity()
        if self._value is None:
            with self._refreshing:
                if self._value is None:
                    self._refresh()
        elif time.monotonic() - self._loaded > REFRESH_SECONDS and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh_then_release, name="kindred-popularity", daemon=True).start()
        assert self._value is not None
        return self._value

    def _refresh(self) -> None:
        self._value = Popularity.from_counts(query_readers(self.path), article_readers(self.path))
        self._loaded = time.monotonic()

    def _refresh_then_release(self) -> None:
        try:
            self._refresh()
        finally:
            self._refreshing.release()
