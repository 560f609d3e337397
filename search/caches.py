"""Bounded caches for the read side: every cache a query can fill has a size limit.

A worker lives for days and sees millions of distinct queries; a cache without a bound
grows with them (measured: 39 KB per unique long query). These caches drop the least
recently used entries once they hold `maxsize` entries, or, with `getsizeof`, entries
whose sizes add up to `maxsize` (bytes, terms...).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable

from cachetools import LRUCache

MISSING = object()


class BoundedCache:
    """A least-recently-used cache safe to share between a worker's threads."""

    def __init__(self, maxsize: int, getsizeof: Callable[[Any], int] | None = None):
        self._items: LRUCache = LRUCache(max(maxsize, 0), getsizeof=getsizeof)
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            return self._items.get(key, default)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            try:
                self._items[key] = value
            except ValueError:  # larger than the whole cache: not kept
                pass

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    @property
    def maxsize(self) -> int:
        return int(self._items.maxsize)

    @property
    def currsize(self) -> int:
        """Entries held, or the sum of their sizes with `getsizeof`."""
        with self._lock:
            return int(self._items.currsize)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
