"""`kindred serve`: gunicorn with N workers (each builds its own app and SearchService), and on a
primary or a replica one replication process beside them (web/replication_process.py)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile

from gunicorn.app.base import BaseApplication

from search.config import Settings
from web.replication_process import replication_process


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict):
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from web.app import create_app

        # Called in each worker after the fork: no index handles shared across processes.
        app = create_app(self._settings)
        try:
            app.extensions["kindred.search"].version()  # open the index now, not on the first reader's request
        except Exception as exc:  # no index yet: the health check says so until one is built
            logging.getLogger(__name__).warning("index not opened at start: %s", exc)
        return app


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

        # No debugger: it runs code for whoever reaches it.
        create_app(settings).run(host=settings.host, port=settings.port, debug=False, use_reloader=False)
        return
    # Workers share their metrics through files here; prometheus_client reads the
    # variable when first imported, so it is set before any worker imports web.app.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kindred-metrics-")
    _Gunicorn(settings, {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": "sync",
        "timeout": 120,  # POST /api/v1/reindex runs a full build in the request
        "graceful_timeout": 10,
        # gunicorn's control socket lives at one path per user: two instances would fight over it.
        "control_socket_disable": True,
        "accesslog": None,  # our own structured access log (web.headers) replaces gunicorn's
        # gunicorn's largest request line (its default, 4094 bytes, refuses a 700-character
        # query in accented letters with an HTML 414 before Kindred can apply its own limit).
        "limit_request_line": 8190,
    }).run()
