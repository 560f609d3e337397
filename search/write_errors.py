"""What a build or a write can fail with. The writing side (indexer/) raises these; they live
in the core so that the web app and the CLI map them to answers without importing any of the
writing side (a serving worker loads it only for an admin write)."""

from __future__ import annotations


class BuildError(RuntimeError):
    """A build that cannot produce a version worth serving."""


class IndexBusy(RuntimeError):
    """Another process holds the lock; the message says what it is doing."""


class StorageError(RuntimeError):
    """The disk refused a write (full, over quota, file too large): nothing was changed."""
