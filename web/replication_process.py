"""The one replication process of a server, beside its workers (docs/scaling.md).

`kindred serve` forks it before gunicorn starts any worker, so exactly one runs however many
workers serve, and stops it on the way out; it exits as soon as the server is gone, even when
the server was killed with SIGKILL. The loop itself (indexer/replication.py) is imported in
the child only: the server and its workers never load the writing side for it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from search.config import Settings

log = logging.getLogger(__name__)

PARENT_CHECK_S = 0.2


@contextmanager
def replication_process(settings: Settings) -> Iterator[int | None]:
    """Run the replication loop in a child process while the body (the server) runs: on a
    replica (primary_url) and on a primary that publishes (replication_token)."""
    if not (settings.primary_url or settings.replication_token):
        yield None
        return
    server = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child never returns into the server's code
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops this
            threading.Thread(target=_exit_without, args=(server,), daemon=True).start()
            from indexer.replication import run

            run(settings)
        except BaseException:
            log.exception("the replication process stopped")
        finally:
            os._exit(1)
    try:
        yield pid
    finally:
        _stop(pid)


def _exit_without(server: int) -> None:
    while os.getppid() == server:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _stop(pid: int) -> None:
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return  # it has exited already
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass  # gunicorn's arbiter reaps every child, ours included
