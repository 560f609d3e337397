"""Replication under load: a primary, two read replicas and nginx on 127.0.0.1.

    python bench/replication.py [--quick] [--json results.json]

The servers and nginx run exactly as docs/scaling.md deploys them (tests/cluster.py starts
them: `kindred serve` for each, docs/nginx/kindred-replicas.conf for nginx), with the default
replication_poll_interval. While wrk replays searches and related lists through nginx:
the primary rebuilds with `kindred index` (propagation: from the moment its `current` link
switches until each replica's `current` link names the new version), an upsert goes through
nginx to the primary (from its answer until each replica serves its generation), one replica
is SIGKILLed with all its processes and started again on the same port, and the primary
rebuilds a second time.
wrk is stopped (SIGINT) once all that is done, and its failed requests counted; nginx's access
and error logs say what it answered and what it saw of the upstreams.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/X.py`, Python puts bench/ first on sys.path, where bench/http.py would
# shadow the standard library's `http` (urllib, nltk and flask import it): use the repo root.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import quote

from bench.common import KINDRED, clean_env, write_json
from bench.http import WRK, wrk_command, wrk_summary, write_lines
from search.config import Settings
from search.store import Store
from search.versions import Layout
from tests.browser.servers import SAMPLE, KindredServer, settings_env
from tests.cluster import ReplicasNginx, primary_settings, replica_settings, wait_for
from tests.reliability.harness import ADMIN_TOKEN, VOCABULARY, Http, synthetic_articles, write_jsonl

TARGET_S = 10.0
# A request counts as failed when it errs or takes longer than nginx's proxy_read_timeout
# (30 s, after which nginx would fail it itself), not after wrk's default 5 s: on a busy
# 2-core machine a rebuild can hold a search up for seconds without anything failing.
WRK_TIMEOUT_S = 30
MAX_LOAD_S = 1800  # wrk's -d: it is stopped when the scenario is over
LIMITS = {"full": {"articles": 3000, "pause_s": 5}, "quick": {"articles": 300, "pause_s": 2}}
# nginx's error log: "2026/11/29 23:25:32 [error] 123#123: *45 <message>, client: ..."
_NGINX_ERROR = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] [\d#]+: \*\d+ (.+?)(?:, client: .*)?$")


@contextmanager
def served_store(settings: Settings) -> Iterator[tuple[str, Store]]:
    """The primary's current version: its name and its store."""
    layout = Layout(settings.resolve(settings.index_dir))
    store = Store(layout.current_dir() / "store.sqlite")
    try:
        yield layout.current_name(), store
    finally:
        store.close()


def primary_state(settings: Settings) -> tuple[str, int]:
    with served_store(settings) as (name, store):
        return name, int(store.meta("generation", 0))


def rebuild(settings: Settings, workdir: Path) -> float:
    """`kindred index` on the primary, as cron runs it: seconds until it returned."""
    started = time.perf_counter()
    subprocess.run([KINDRED, "index", "--quiet"], cwd=workdir, env=clean_env(**settings_env(settings)), check=True,
                   capture_output=True, timeout=900)
    return time.perf_counter() - started


class Switches:
    """When each server's `current` link first named each version, read from disk every 10 ms
    (the servers share this machine): a switch is when a server's workers start serving a
    version, and the disk says it without queueing behind wrk's requests as /healthz would."""

    def __init__(self, layouts: dict[str, Layout]):
        self.layouts = layouts
        self.first_seen: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            now = time.perf_counter()
            for who, layout in self.layouts.items():
                self.first_seen.setdefault((who, layout.current_name()), now)

    def when(self, who: str, version: str) -> float:
        return wait_for(lambda: self.first_seen.get((who, version)), f"{who} to switch to {version}", timeout=300)

    def propagation(self, replicas: list[str], snapshot: str, since: float) -> dict[str, float]:
        """Seconds from `since` until each replica switched to the snapshot `<version>.<generation>`."""
        return {who: round(self.when(who, snapshot) - since, 2) for who in replicas}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def load_urls(settings: Settings, path: Path) -> Path:
    """Searches for the articles' words and the related list of every article, interleaved."""
    with served_store(settings) as (_, store):
        ids = store.article_ids()
    searches = [f"/api/v1/search?q={quote(a)}+{quote(b)}" for a, b in zip(VOCABULARY, reversed(VOCABULARY))]
    related = [f"/api/v1/related/{quote(i)}" for i in ids]
    mixed = [url for pair in zip(related, searches * (len(related) // len(searches) + 1)) for url in pair]
    return write_lines(path, mixed)


class Load:
    """wrk through nginx in the background until stop()."""

    def __init__(self, base_url: str, urls: Path):
        self.urls = urls
        self.command = wrk_command(base_url, urls, MAX_LOAD_S, WRK_TIMEOUT_S)
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGINT)  # wrk stops and reports what it did so far
        stdout, stderr = self.process.communicate(timeout=60)
        done = subprocess.CompletedProcess(self.command, self.process.returncode, stdout, stderr)
        return {**wrk_summary(self.command, self.urls, done), "threads": WRK["threads"],
                "connections": WRK["connections"], "timeout_s": WRK_TIMEOUT_S}


def nginx_statuses(access_log: Path) -> dict[str, int]:
    """How many responses nginx gave with each status (its combined log format)."""
    lines = access_log.read_text(encoding="utf-8", errors="replace").splitlines()
    return dict(Counter(line.split('"')[2].split()[0] for line in lines if line.count('"') >= 2))


def nginx_upstream_problems(error_log: Path, clock_epoch: float) -> list[dict]:
    """What nginx logged about its upstreams (refused, reset, cut short...), grouped by message,
    with when (seconds after the load started) it first and last happened."""
    seen: dict[str, list[float]] = {}
    for line in error_log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _NGINX_ERROR.match(line)
        if match and match.group(2) in ("warn", "error") and "upstream" in match.group(3):
            at = time.mktime(time.strptime(match.group(1), "%Y/%m/%d %H:%M:%S")) - clock_epoch
            message = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", match.group(3))
            seen.setdefault(f"[{match.group(2)}] {message}", []).append(at)
    return [{"message": message, "count": len(times), "first_t_s": round(min(times)), "last_t_s": round(max(times))}
            for message, times in sorted(seen.items(), key=lambda item: min(item[1]))]


def run(limits: dict) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="kindred-bench-replication-"))
    events: list[dict] = []
    servers: list[KindredServer] = []
    nginx = load = None
    clock = time.perf_counter()

    def event(what: str, **details) -> None:
        events.append({"t_s": round(time.perf_counter() - clock, 1), "event": what, **details})
        print(f"  {events[-1]['t_s']:6.1f} s  {what} {details or ''}", flush=True)

    try:
        extra = write_jsonl(tmp / "synthetic.jsonl", synthetic_articles(limits["articles"], seed=18))
        # The default poll interval: the target is about what a deployment gets.
        settings = primary_settings(tmp / "primary", sources=[str(SAMPLE), str(extra)],
                                    replication_poll_interval=Settings().replication_poll_interval)
        rebuild(settings, tmp)
        primary = KindredServer(settings, tmp / "primary", workers=2, startup_timeout=180)
        servers.append(primary.start())
        replicas = [KindredServer(replica_settings(tmp / f"replica-{n}", primary.url,
                                                  replication_poll_interval=settings.replication_poll_interval),
                                  tmp / f"replica-{n}", workers=2, startup_timeout=180) for n in (1, 2)]
        for replica in replicas:
            servers.append(replica.start())
        nginx = ReplicasNginx(tmp / "nginx", primary, replicas).start()
        urls = load_urls(settings, tmp / "urls.txt")
        snapshot = Http(primary.url).json("GET", "/api/v1/versions")[1]["snapshot"]

        names = [f"replica-{n}" for n in (1, 2)]
        switches = Switches({"primary": Layout(settings.resolve(settings.index_dir)),
                             **{name: Layout(r.settings.resolve(r.settings.index_dir)) for name, r in zip(names, replicas)}})
        clock, clock_epoch = time.perf_counter(), time.time()
        load = Load(nginx.url, urls)
        event("wrk started through nginx")
        time.sleep(limits["pause_s"])

        rebuilds = []
        for number in (1, 2):
            build_s = rebuild(settings, tmp)
            version, generation = primary_state(settings)
            event(f"rebuild {number} returned", version=version, build_s=round(build_s, 1))
            arrivals = switches.propagation(names, f"{version}.{generation}", switches.when("primary", version))
            event(f"rebuild {number} served by every replica", seconds_after_the_switch=arrivals)
            rebuilds.append({"version": version, "build_s": round(build_s, 1), "replicas_s": arrivals})
            time.sleep(limits["pause_s"])
            if number == 2:
                break

            upsert = {"id": "replication-bench-upsert", "title": "Naloxone at the replication bench",
                      "body": "An article written through nginx to the primary while readers load the replicas."}
            status, _ = Http(nginx.url, token=ADMIN_TOKEN, timeout=60).json("POST", "/api/v1/articles", upsert,
                                                                              auth=True)
            written = time.perf_counter()
            assert status == 200, f"the upsert through nginx answered {status}"
            event("upsert answered by the primary through nginx")
            version, generation = primary_state(settings)
            upsert_arrivals = switches.propagation(names, f"{version}.{generation}", written)
            event("upsert served by every replica", seconds=upsert_arrivals)
            time.sleep(limits["pause_s"])

            replicas[0].kill()
            event("replica-1 SIGKILLed (master, workers and replication process)")
            time.sleep(limits["pause_s"])
            started = time.perf_counter()
            replicas[0].start()
            restart_s = round(time.perf_counter() - started, 1)
            event("replica-1 restarted and answering", seconds=restart_s)
            time.sleep(limits["pause_s"])

        measured = load.stop()
        load = None
        switches.stop()
        event("wrk stopped", requests=measured["requests"], errors=measured["error_count"])
        for replica in replicas:  # what the replicas say agrees with their disks
            health = Http(replica.url, timeout=60).json("GET", "/healthz")[1]
            assert health["replica"]["version"] == rebuilds[-1]["version"], health
        propagated = [s for r in rebuilds for s in r["replicas_s"].values()]
        with served_store(settings) as (_, store):
            articles = store.count()
        return {
            "articles": articles,
            "snapshot_bytes": snapshot["size"],
            "poll_interval_s": settings.replication_poll_interval,
            "rebuilds": rebuilds,
            "upsert_s": upsert_arrivals,
            "restart_s": restart_s,
            "wrk": measured,
            "nginx_statuses": nginx_statuses(nginx.workdir / "access.log"),
            "nginx_upstream_problems": nginx_upstream_problems(nginx.workdir / "error.log", clock_epoch),
            "events": events,
            "load_avg": [round(x, 2) for x in os.getloadavg()],
            "max_propagation_s": max(propagated),
            "propagation_met": max(propagated) <= TARGET_S,
            "failures_met": measured["error_count"] == 0,
        }
    finally:
        if load is not None:
            load.process.kill()
            load.process.wait()
        if nginx is not None:
            nginx.stop()
        for server in reversed(servers):
            server.stop(graceful=False)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller index")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    results = run(LIMITS["quick" if args.quick else "full"])
    print(json.dumps({k: v for k, v in results.items() if k != "events"}, indent=1))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
