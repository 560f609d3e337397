"""Replication for real: a primary, read replicas and nginx in front of them as processes on
127.0.0.1, and a TCP proxy that plays the network between a replica and its primary (slow, or
down). Importable without pytest's fixtures: tests/test_replication.py and bench/replication.py
run the same processes.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from search.config import Settings
from tests.browser.servers import KindredServer, ServerThread
from tests.reliability.harness import reliability_settings
from tests.test_deploy import Nginx, nginx_binary

REPO = Path(__file__).resolve().parents[1]
REPLICAS_CONFIG = REPO / "docs" / "nginx" / "kindred-replicas.conf"
DOCUMENTED_PRIMARY = "10.0.0.10:8000"
DOCUMENTED_REPLICAS = ("10.0.0.11:8000", "10.0.0.12:8000")
DOCUMENTED_LISTEN = "listen 80;"
REPLICATION_TOKEN = "replication-test-token"
POLL_S = 0.3


def primary_settings(root: Path, **overrides: Any) -> Settings:
    return reliability_settings(root, **{"replication_token": REPLICATION_TOKEN,
                                         "replication_poll_interval": POLL_S, **overrides})


def replica_settings(root: Path, primary_url: str, **overrides: Any) -> Settings:
    return primary_settings(root, primary_url=primary_url, **overrides)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Poll until `condition()` is truthy and return it; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def replicas_site(primary_port: int, replica_ports: Sequence[int], listen_port: int) -> str:
    """docs/nginx/kindred-replicas.conf with only its addresses and ports changed."""
    text = REPLICAS_CONFIG.read_text(encoding="utf-8")
    for documented in (DOCUMENTED_PRIMARY, *DOCUMENTED_REPLICAS, DOCUMENTED_LISTEN):
        assert documented in text, f"the documented {documented!r} moved"
    text = text.replace(DOCUMENTED_PRIMARY, f"127.0.0.1:{primary_port}")
    for documented, port in zip(DOCUMENTED_REPLICAS, replica_ports, strict=True):
        text = text.replace(documented, f"127.0.0.1:{port}")
    return text.replace(DOCUMENTED_LISTEN, f"listen {listen_port};")


class ReplicasNginx(Nginx):
    """nginx running the documented replicas config in front of a primary and its replicas."""

    def __init__(self, workdir: Path, primary: KindredServer, replicas: Sequence[KindredServer]):
        super().__init__(nginx_binary(), workdir, primary.port)
        (self.workdir / "kindred.conf").write_text(
            replicas_site(primary.port, [r.port for r in replicas], self.port), encoding="utf-8")


class ThrottledProxy(ServerThread):
    """127.0.0.1:<port> forwarded to a server on `target_port`, with its answers slowed to
    `bytes_per_s` when set, and every connection dropped at once while `down` is set."""

    CHUNK = 8192

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.bytes_per_s: float | None = None
        self.down = False
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        super().__init__(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler), "throttled-proxy")

    def _serve(self, client: socket.socket) -> None:
        if self.down:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=60)
        except OSError:
            return
        with upstream:
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            self._pump(upstream, client, True)

    def _pump(self, source: socket.socket, sink: socket.socket, throttled: bool) -> None:
        try:
            while not self.down and (chunk := source.recv(self.CHUNK)):
                sink.sendall(chunk)
                if throttled and self.bytes_per_s:
                    time.sleep(len(chunk) / self.bytes_per_s)
        except OSError:
            pass  # either side went away: so does this connection
        finally:
            for side in (source, sink):
                try:
                    side.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
