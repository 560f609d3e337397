"""`kindred serve`: gunicorn with N workers (each builds its own app and SearchService)."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from search.config import Settings
from web.app import create_app


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict):
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        # Called in each worker after the fork: no index handles shared across processes.
        return create_app(self._settings)


def run(settings: Settings, dev: bool = False) -> None:
    if dev:
        create_app(settings).run(host=settings.host, port=settings.port, debug=True, use_reloader=False)
        return
    _Gunicorn(settings, {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": "sync",
        "timeout": 120,  # POST /api/v1/reindex runs a full build in the request
        "graceful_timeout": 10,
        # gunicorn's control socket lives at one path per user: two instances would fight over it.
        "control_socket_disable": True,
        "accesslog": "-",
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
    }).run()
