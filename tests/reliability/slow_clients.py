"""Slow clients (`make slow-clients`): connections that never finish their headers must not
take `kindred serve` down.

    python -m tests.reliability.slow_clients [--connections 200] [--seconds 30] [--out FILE]

1. The sample site is indexed into a temp dir and served by a real `kindred serve` with its
   default 2 workers on 127.0.0.1.
2. `--connections` slow clients (slowloris) each open a connection, send a request line
   and one header, then one more header byte every second, and never the blank line that
   ends the headers. A client whose connection the server closes opens a new one.
3. Meanwhile a prober asks for /healthz on a new connection every 0.25 s for `--seconds`.

Pass: every probe is answered 200 within PROBE_TIMEOUT_S, and the server closes the slow
connections by itself. (With gunicorn's sync workers a probe is never answered: each worker
waits on one slow connection until the arbiter kills it after 120 s.) Figures: probe
latency, how long the server kept a slow connection, connections opened. Exit status 0 on
pass, 1 on failure.
"""

from __future__ import annotations

import argparse
import http.client
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.browser.servers import KindredServer, build_sample_index
from tests.reliability.harness import finish, reliability_settings

PROBE_TIMEOUT_S = 10.0
PROBE_EVERY_S = 0.25
TRICKLE_EVERY_S = 1.0
PARTIAL_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@dataclass
class SlowClientsResult:
    connections: int
    seconds: float
    probes: int = 0
    probes_failed: int = 0
    probe_errors: list[str] = field(default_factory=list)
    probe_ms: dict[str, float] = field(default_factory=dict)
    slow_connections_opened: int = 0
    slow_connections_closed_by_server: int = 0
    held_s: dict[str, float] = field(default_factory=dict)
    server_alive: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


class SlowClients(threading.Thread):
    """`count` connections that trickle header bytes forever; reopened when closed."""

    def __init__(self, host: str, port: int, count: int):
        super().__init__(name="slow-clients", daemon=True)
        self.address = (host, port)
        self.count = count
        self.selector = selectors.DefaultSelector()
        self.opened_at: dict[socket.socket, float] = {}
        self.opened = 0
        self.held: list[float] = []  # seconds from open to the server closing it
        self._stopping = threading.Event()
        self.ready = threading.Event()

    def _open(self) -> None:
        sock = socket.create_connection(self.address, timeout=5)
        sock.sendall(PARTIAL_REQUEST)
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ)
        self.opened_at[sock] = time.monotonic()
        self.opened += 1

    def _closed_by_server(self, sock: socket.socket) -> None:
        self.held.append(time.monotonic() - self.opened_at.pop(sock))
        self.selector.unregister(sock)
        sock.close()

    def run(self) -> None:
        for _ in range(self.count):
            self._open()
        self.ready.set()
        next_trickle = time.monotonic() + TRICKLE_EVERY_S
        while not self._stopping.is_set():
            for key, _ in self.selector.select(timeout=0.1):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:  # closed (or answered with an error and closed): reopen
                    self._closed_by_server(key.fileobj)
                    self._open()
            if time.monotonic() >= next_trickle:
                next_trickle += TRICKLE_EVERY_S
                for sock in list(self.opened_at):
                    try:
                        sock.send(b"x")
                    except OSError:
                        self._closed_by_server(sock)
                        self._open()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)
        for sock in list(self.opened_at):
            self.selector.unregister(sock)
            sock.close()
        self.opened_at.clear()


def probe(host: str, port: int) -> float:
    """Milliseconds to GET /healthz on a new connection (raises on failure)."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT_S)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
    finally:
        conn.close()
    return (time.monotonic() - started) * 1000


def run_slow_clients(server: KindredServer, connections: int, seconds: float) -> SlowClientsResult:
    result = SlowClientsResult(connections=connections, seconds=seconds)
    host, port = "127.0.0.1", server.port
    attackers = SlowClients(host, port, connections)
    attackers.start()
    attackers.ready.wait(timeout=60)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            result.probes += 1
            try:
                latencies.append(probe(host, port))
            except Exception as exc:  # counted and reported: the check fails on any
                result.probes_failed += 1
                result.probe_errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(PROBE_EVERY_S)
    finally:
        attackers.stop()
    result.slow_connections_opened = attackers.opened
    result.slow_connections_closed_by_server = len(attackers.held)
    result.probe_errors = result.probe_errors[:10]
    if latencies:
        ordered = sorted(latencies)
        result.probe_ms = {"p50": round(statistics.median(ordered), 1),
                           "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1), "max": round(ordered[-1], 1)}
    if attackers.held:
        result.held_s = {"median": round(statistics.median(attackers.held), 2), "max": round(max(attackers.held), 2)}
    result.server_alive = server.running()
    if result.probes_failed or not result.probes:
        result.problems.append(f"{result.probes_failed} of {result.probes} /healthz probes failed")
    if not attackers.held:
        result.problems.append("the server never closed a slow connection")
    if not result.server_alive:
        result.problems.append("the server exited")
    return result


def summary(result: SlowClientsResult) -> str:
    return "\n".join([
        f"slow clients {'PASSED' if result.passed else 'FAILED'}: {result.connections} slow connections "
        f"held open for {result.seconds:g}s",
        f"  /healthz probes: {result.probes}, failed: {result.probes_failed} {result.probe_errors[:3]}; "
        f"latency ms {result.probe_ms}",
        f"  slow connections opened: {result.slow_connections_opened}, closed by the server: "
        f"{result.slow_connections_closed_by_server} after {result.held_s} s",
        f"  server alive at the end: {result.server_alive}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=200, help="Slow connections held open at once.")
    parser.add_argument("--seconds", type=float, default=30, help="How long the attack and the probes last.")
    parser.add_argument("--out", type=Path, help="Write the full result as JSON here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kindred-slow-clients-") as tmp:
        settings = build_sample_index(reliability_settings(Path(tmp)))
        with KindredServer(settings, Path(tmp) / "server") as server:
            result = run_slow_clients(server, args.connections, args.seconds)
    return finish(result, summary(result), args.out)


if __name__ == "__main__":
    sys.exit(main())
