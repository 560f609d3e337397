"""How much one client may record: a fixed one-minute window per client address, in memory.

(limits/flask-limiter's in-memory storage was measured and left out: it imports asyncio,
about 80 ms per worker start, and re-scans every key from a new timer thread every 10 ms.)
"""

from __future__ import annotations

import threading
import time

from cachetools import TTLCache

WINDOW_SECONDS = 60.0
# Clients remembered at once per worker; past it the least recent are forgotten (and start a
# fresh window), so memory stays bounded however many addresses send.
MAX_CLIENTS = 100_000


class PerClientLimit:
    """At most `per_minute` actions of each kind per client per minute; 0 means no limit."""

    def __init__(self, per_minute: int, max_clients: int = MAX_CLIENTS):
        self.per_minute = per_minute
        self._windows: TTLCache[tuple[str, str], tuple[float, int]] = TTLCache(max_clients, WINDOW_SECONDS)
        self._lock = threading.Lock()

    def allow(self, kind: str, client: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic()
        key = (kind, client)
        with self._lock:
            started, used = self._windows.get(key, (now, 0))
            if now - started >= WINDOW_SECONDS:
                started, used = now, 0
            if used >= self.per_minute:
                return False
            self._windows[key] = (started, used + 1)
            return True
