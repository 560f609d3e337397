"""Inter-process locks on files (flock): released by the kernel if the holder dies."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from search.write_errors import IndexBusy


@contextmanager
def file_lock(path: Path, timeout: float, activity: str) -> Iterator[None]:
    """Hold an exclusive lock on `path`, waiting up to `timeout` seconds for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    waited = f" after waiting {timeout:g}s" if timeout else ""
                    raise IndexBusy(f"{activity} is already in progress (pid {holder}){waited}; try again later") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
