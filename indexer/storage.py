"""Telling a full disk from other failures, so a write or build refused by the disk ends
with a clear message (HTTP 507) instead of a traceback."""

from __future__ import annotations

import errno
import sqlite3

# No space left, quota exceeded, file over the size limit (RLIMIT_FSIZE).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# How SQLite and tantivy report the same conditions: SQLite maps ENOSPC to SQLITE_FULL and
# other failed writes (EFBIG, EDQUOT) to SQLITE_IOERR; tantivy quotes the OS error.
STORAGE_MESSAGES = ("database or disk is full", "disk i/o error", "no space left", "file too large",
                    "disk quota exceeded", "os error 28", "os error 27", "os error 122")


def refused_by_disk(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it came from, is the disk refusing a write."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in STORAGE_ERRNOS:
            return True
        if isinstance(current, (sqlite3.Error, ValueError, RuntimeError, OSError)):
            if any(text in str(current).lower() for text in STORAGE_MESSAGES):
                return True
        current = current.__cause__ or current.__context__
    return False
