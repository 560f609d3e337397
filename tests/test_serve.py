"""`kindred serve` for real (gunicorn, 2 workers, on a free port): /metrics counts what the
whole server answered, whichever worker a scrape lands on, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.browser.servers import KindredServer
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

SCRAPES = 12  # each on a new connection, so they land on both workers


def start(root: Path, sample_index: Path) -> KindredServer:
    settings = make_settings(sample_index, analytics_db=str(root / "analytics.sqlite"))
    return KindredServer(settings, root / "serve", workers=2).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sample_index):
    running = start(tmp_path_factory.mktemp("serve"), sample_index)
    yield running
    running.stop()


def get(url: str) -> tuple[bytes, list[str]]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers.get_all("Content-Type")


def answered(server: KindredServer) -> float:
    """Requests the server has answered, by /metrics (scrapes themselves are not counted)."""
    body, _ = get(server.url + "/metrics")
    return sum(sample.value for family in text_string_to_metric_families(body.decode())
               for sample in family.samples if sample.name == "kindred_http_requests_total")


def scrapes(server: KindredServer) -> set[float]:
    return {answered(server) for _ in range(SCRAPES)}


def make_requests(server: KindredServer, count: int, threads: int = 8) -> None:
    """`count` requests from several threads at once, so both workers answer some."""
    paths = ["/api/v1/search?q=ketamine", "/healthz", "/api/v1/related/does-weed-have-calories", "/?q=molly"]
    todo = iter(range(count))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                return
            get(server.url + paths[n % len(paths)])

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


def test_every_scrape_counts_every_worker(server):
    before = scrapes(server)
    assert len(before) == 1, before  # the warm-up requests, the same total from either worker
    make_requests(server, 40)
    assert scrapes(server) == {before.pop() + 40}


def test_metrics_content_type_names_its_charset_once(server):
    _, content_types = get(server.url + "/metrics")
    assert len(content_types) == 1 and content_types[0].startswith("text/plain")
    assert content_types[0].lower().count("charset") == 1, content_types


def test_a_dead_workers_counts_stay(server):
    make_requests(server, 10)
    before = scrapes(server)
    assert len(before) == 1
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    for _ in range(300):  # gunicorn replaces it
        pids = server.worker_pids()
        if len(pids) == 2 and victim not in pids:
            break
        time.sleep(0.1)
    assert victim not in server.worker_pids()
    make_requests(server, 8)
    # The replacement's first answers open the index; the dead worker's answers still count.
    assert scrapes(server) == {before.pop() + 8}


def test_the_metrics_directory_lives_as_long_as_the_server(tmp_path, sample_index):
    server = start(tmp_path, sample_index)
    try:
        directories = list(server.tmp_dir.glob("kindred-metrics-*"))
        assert len(directories) == 1
        assert list(directories[0].glob("*.db"))  # the workers write their samples there
    finally:
        server.stop()
    assert not list(server.tmp_dir.glob("kindred-metrics-*"))
