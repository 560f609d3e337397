"""What a replica's follower last saw of its primary, in a small file every worker reads.

The follower (indexer/follower.py) runs once per server, not once per worker; it rewrites
`replica.json` in the index directory after every check, and /healthz and /metrics of any
worker report from it. Lag is worked out when it is read, so it keeps growing when the
primary is unreachable or the follower itself has stopped.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from search.replication import write_json_atomically


@dataclasses.dataclass(frozen=True)
class ReplicaStatus:
    primary: str
    started_at: float | None = None  # when the follower started (epoch seconds)
    checked_at: float | None = None  # its last check of the primary, reachable or not
    in_sync_at: float | None = None  # the last time it served the primary's latest snapshot
    reachable: bool | None = None
    error: str | None = None  # why the last check failed; None when it succeeded
    version: str | None = None  # the primary's version being served
    generation: int | None = None
    downloading: str | None = None  # the snapshot being pulled

    def replace(self, **changes: Any) -> "ReplicaStatus":
        return dataclasses.replace(self, **changes)

    def health(self, now: float | None = None) -> dict[str, Any]:
        """The `replica` part of /healthz."""
        now = time.time() if now is None else now

        def since(moment: float | None) -> float | None:
            return None if moment is None else round(max(0.0, now - moment), 1)

        return {
            "primary": self.primary,
            "version": self.version,
            "generation": self.generation,
            # Seconds since the replica last knew it served the primary's latest state.
            "lag_s": since(self.in_sync_at if self.in_sync_at is not None else self.started_at),
            "primary_reachable": self.reachable,
            "error": self.error,
            "checked_s": since(self.checked_at),
            "downloading": self.downloading,
        }


def write_status(path: Path, status: ReplicaStatus) -> None:
    write_json_atomically(path, dataclasses.asdict(status))


def read_status(path: Path) -> ReplicaStatus | None:
    """The follower's last report; None before its first (or if the file is unreadable)."""
    try:
        return ReplicaStatus(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
