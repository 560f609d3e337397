"""The replication loop of a server: a replica's follower, or a primary's publisher.

It runs in one process per server (web/replication_process.py forks it beside gunicorn's
workers) and holds `replication.lock`, so a second server on the same index directory does
not follow or publish twice.
"""

from __future__ import annotations

import logging
import time

from indexer.follower import Follower
from indexer.locks import file_lock
from indexer.publisher import Publisher
from search.config import Settings
from search.versions import Layout

log = logging.getLogger(__name__)

# A primary looks at its own index (a readlink and one SQLite read) more often than replicas
# ask it for news, so publishing adds little to their poll interval.
PUBLISH_CHECK_S = 0.5


def run(settings: Settings) -> None:
    """Follow the primary (on a replica) or publish snapshots (on a primary) until killed."""
    layout = Layout(settings.resolve(settings.index_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    with file_lock(layout.replication_lock, 0, "replication of this index"):
        if settings.primary_url:
            follower = Follower(settings)
            follower.start()
            step, interval = follower.check, settings.replication_poll_interval
        else:
            publisher = Publisher(settings)
            publisher.remove_leftovers()
            step, interval = publisher.publish, min(PUBLISH_CHECK_S, settings.replication_poll_interval)
        while True:
            try:
                step()
            except Exception:  # a bug or a full disk: report it and try again next round
                log.exception("replication round failed")
            time.sleep(interval)
