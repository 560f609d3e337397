"""`kindred serve`: gunicorn with N workers (each builds its own app and SearchService), and on a
primary or a replica one replication process beside them (web/replication_process.py)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from typing import Iterator

from gevent import monkey, socket
from gunicorn.app.base import BaseApplication
from gunicorn.workers.ggevent import GeventWorker

from search.config import Settings
from web.replication_process import replication_process

HEADER_TIMEOUT_S = 5
MAX_CONNECTIONS_PER_WORKER = 1000


class GreenletWorker(GeventWorker):
    """gunicorn's gevent worker, with threads left as threads.

    Each connection is a greenlet, so a client that never finishes its headers costs a
    greenlet, not a worker. Patching threading too would make every thread-local
    per-greenlet: the index store would open a new SQLite connection for each connection
    (about 1 ms of CPU each), and the analytics writer thread would run on the event loop.
    Code that holds a lock must not wait on a socket (it never does: locks guard memory
    and files only)."""

    def patch(self) -> None:
        monkey.patch_all(thread=False)
        # As gunicorn's own patch(): the listening sockets become gevent sockets.
        self.sockets = [socket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach()) for s in self.sockets]


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, metrics_dir: str, options: dict):
        self._settings = settings
        self._metrics_dir = metrics_dir
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from web import metrics
        from web.app import create_app

        # Called in each worker after the fork: no index handles shared across processes.
        app = create_app(self._settings)
        metrics.share_between_workers(app, self._metrics_dir)
        try:
            app.extensions["kindred.search"].version()  # open the index now, not on the first reader's request
        except Exception as exc:  # no index yet: the health check says so until one is built
            logging.getLogger(__name__).warning("index not opened at start: %s", exc)
        return app


@contextlib.contextmanager
def _metrics_directory() -> Iterator[str]:
    """Where every worker writes its metric samples, for as long as the server runs.

    prometheus_client reads PROMETHEUS_MULTIPROC_DIR when first imported, which happens in
    the workers (web.app), and they inherit it from here."""
    server = os.getpid()
    directory = tempfile.mkdtemp(prefix="kindred-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield directory
    finally:
        # Workers leave gunicorn through here too (SystemExit): only the server removes it.
        if os.getpid() == server:
            shutil.rmtree(directory, ignore_errors=True)


def _mark_dead_workers(directory: str):
    """gunicorn's child_exit hook: a dead worker's counts stay, its live gauges go."""

    def child_exit(server, worker) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, directory)

    return child_exit


def _access_log_to_stdout() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("kindred.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run(settings: Settings, dev: bool = False) -> None:
    """Serve; on a primary or a replica, with the one replication process beside the server."""
    with replication_process(settings):
        _serve(settings, dev)


def _serve(settings: Settings, dev: bool = False) -> None:
    _access_log_to_stdout()
    if dev:
        from web.app import create_app

        # No debugger: it runs code for whoever reaches it. No reloader: one process.
        create_app(settings).run(host=settings.host, port=settings.port, debug=False, use_reloader=False)
        return
    with _metrics_directory() as metrics_dir:
        _Gunicorn(settings, metrics_dir, {
            "bind": f"{settings.host}:{settings.port}",
            "workers": settings.workers,
            # A sync worker waits on a client that never finishes its headers (slowloris)
            # until the arbiter kills it after `timeout`; a GreenletWorker holds a greenlet.
            "worker_class": GreenletWorker if settings.worker_type == "gevent" else "sync",
            "worker_connections": MAX_CONNECTIONS_PER_WORKER,
            # The gevent worker allows this long for each request's headers, and for the next
            # request on a kept-alive connection.
            "keepalive": HEADER_TIMEOUT_S,
            "timeout": 120,  # POST /api/v1/reindex runs a full build in the request
            "graceful_timeout": 10,
            # gunicorn's control socket lives at one path per user: two instances would fight over it.
            "control_socket_disable": True,
            "accesslog": None,  # our own structured access log (web.ops) replaces gunicorn's
            # gunicorn's largest request line (its default, 4094 bytes, refuses a 700-character
            # query in accented letters with an HTML 414 before Kindred can apply its own limit).
            "limit_request_line": 8190,
            "child_exit": _mark_dead_workers(metrics_dir),
        }).run()
