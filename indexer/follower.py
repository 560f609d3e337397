"""A read replica follows its primary, as a local build would publish.

Every `replication_poll_interval` seconds it asks the primary for its latest snapshot
(GET /api/v1/versions). A new one is downloaded (GET /api/v1/versions/<id>/archive, with the
replication token) into `versions/.pull-<id>-*/`, each file checked against the listing while
it is written; the directory is renamed complete, checked like any version (manifest format
and analyzer), and `current` switched to it in one atomic rename. A replica killed mid-download
leaves only a `.pull-*` directory, which nothing serves and the next start removes; one that
cannot reach its primary keeps serving its last complete version. What it saw goes to the
status file every worker reports from (search/replica_status.py).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urljoin

from indexer.locks import file_lock
from search.config import Settings
from search.replica_status import ReplicaStatus, write_status
from search.replication import InvalidSnapshot, Snapshot, unpack_archive
from search.versions import IncompatibleIndex, Layout, read_manifest

log = logging.getLogger(__name__)

PULL_PREFIX = ".pull-"
TIMEOUT_S = 30  # per connection attempt and per read: a stalled primary fails the check
MAX_LISTING_BYTES = 32 << 20


class Follower:
    def __init__(self, settings: Settings):
        self.layout = Layout(settings.resolve(settings.index_dir))
        self.primary = settings.primary_url.rstrip("/") + "/"
        self.token = settings.replication_token
        self.keep_versions = settings.keep_versions
        self.write_timeout = settings.write_timeout
        self.status = ReplicaStatus(primary=settings.primary_url, started_at=time.time())

    def start(self) -> None:
        """Remove what a killed download left, and say that the follower runs."""
        self.layout.versions.mkdir(parents=True, exist_ok=True)
        for leftover in self.layout.versions.glob(f"{PULL_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self._report()

    def check(self) -> bool:
        """One round: ask the primary, pull and switch to a new snapshot; True if it switched."""
        try:
            snapshot = self._latest_snapshot()
            switched = snapshot is not None and self.layout.current_name() != snapshot.id
            if switched:
                self._report(downloading=snapshot.id)
                self._switch_to(self._pull(snapshot))
        except (OSError, http.client.HTTPException, InvalidSnapshot, IncompatibleIndex) as exc:
            # Keep serving what is there; the next round tries again.
            reachable = isinstance(exc, (urllib.error.HTTPError, InvalidSnapshot, IncompatibleIndex))
            error = _describe(exc)
            if error != self.status.error:  # once per problem, not once per round
                log.warning("following %s: %s", self.primary, error)
            self._report(checked_at=time.time(), reachable=reachable, error=error, downloading=None)
            return False
        now = time.time()
        if snapshot is None:
            self._report(checked_at=now, reachable=True, downloading=None,
                         error="the primary has published no snapshot yet (is replication_token set there?)")
        else:
            self._report(checked_at=now, in_sync_at=now, reachable=True, error=None, downloading=None,
                         version=snapshot.version, generation=snapshot.generation)
        return switched

    def _request(self, path: str) -> urllib.request.Request:
        return urllib.request.Request(urljoin(self.primary, path), headers={"Authorization": f"Bearer {self.token}"})

    def _latest_snapshot(self) -> Snapshot | None:
        with urllib.request.urlopen(self._request("api/v1/versions"), timeout=TIMEOUT_S) as response:
            body = response.read(MAX_LISTING_BYTES + 1)
        if len(body) > MAX_LISTING_BYTES:
            raise InvalidSnapshot(f"the primary's version list is over {MAX_LISTING_BYTES} bytes")
        try:
            listing = json.loads(body)["snapshot"]
        except (ValueError, TypeError, KeyError):
            raise InvalidSnapshot("the primary's /api/v1/versions is not a version list") from None
        return None if listing is None else Snapshot.from_json(listing)

    def _pull(self, snapshot: Snapshot) -> Path:
        """Download, verify and rename complete: the new version directory."""
        work = Path(tempfile.mkdtemp(prefix=f"{PULL_PREFIX}{snapshot.id}-", dir=self.layout.versions))
        try:
            request = self._request(f"api/v1/versions/{quote(snapshot.id)}/archive")
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                unpack_archive(response, snapshot, work)
            read_manifest(work)  # a version this Kindred cannot read is refused, never served
            final = self.layout.versions / snapshot.id
            shutil.rmtree(final, ignore_errors=True)  # pulled before but never switched to
            os.replace(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return final

    def _switch_to(self, version: Path) -> None:
        with file_lock(self.layout.write_lock, self.write_timeout, "an index write"):
            self.layout.switch_current(version)
        log.info("now serving %s from %s", version.name, self.primary)
        current = self.layout.current_name()
        others = [p for p in self.layout.complete_versions() if p.name != current]
        others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in others[self.keep_versions - 1:]:
            shutil.rmtree(old, ignore_errors=True)

    def _report(self, **changes) -> None:
        self.status = self.status.replace(**changes)
        write_status(self.layout.replica_status, self.status)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"the primary answered HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"the primary is unreachable: {exc.reason}"
    return str(exc) or type(exc).__name__
