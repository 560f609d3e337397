"""Load generator for the live-rebuild soak: a separate process, standard library only.

    python -m tests.reliability.loadgen --url http://127.0.0.1:8000 --ids-file ids.txt \
        --requests 20000 --seconds 300 --threads 4 --stop-file stop --out report.json

Threads send searches (/api/v1/search), related lookups (/api/v1/related/<id>, some of
them revalidated with If-None-Match) and iframe widgets (/widget/related/<id>), one
connection per request, until the request budget, the time budget or the stop file. Every
response is classified: anything but 200/304 (5xx, 4xx, connection errors, bodies that
are not the JSON asked for) is a failure. For the version check it records the index
version of every search response and the ETag of every related response (the ETag is a
digest of the index state "<version>.<generation>", see `state_etag`).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

QUERIES = (
    "ketamine", "molly", "overdose", "does weed have calories", "naloxone", "alcohol liver", "cbd thc",
    "relapse prevention", "fentanyl test strips", "treatment program", "ketamin", "cocaine heart",
    "sleep recovery", "\"special k\"", "canna*", "vaping teens", "category:cannabis edibles",
    "opioid -prescription", "anxiety", "withdrawal timeline", "peer support", "zzzz nothing matches",
)


def state_etag(state: str, article_id: str, limit: int, host_url: str) -> str:
    """The ETag Kindred sends for a related list (web.http.cacheable): the first 20 hex digits
    of sha1(repr((state, article_id, limit, host_url))). Checked against the app by
    tests/reliability/test_soak.py, so a change there fails a test instead of this check."""
    return hashlib.sha1(repr((state, article_id, limit, host_url)).encode()).hexdigest()[:20]


class Load:
    def __init__(self, args):
        self.args = args
        host_port = args.url.split("//", 1)[1].rstrip("/")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.host_url = args.url.rstrip("/") + "/"
        self.ids = [line.strip() for line in Path(args.ids_file).read_text().splitlines() if line.strip()]
        self.lock = threading.Lock()
        self.issued = 0
        self.statuses: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.versions: Counter[str] = Counter()
        self.etags: Counter[tuple[str, str, int]] = Counter()
        self.failures: list[dict] = []
        self.failed = 0
        self.latencies: list[float] = []
        self.deadline = time.monotonic() + args.seconds
        self.stop_file = Path(args.stop_file) if args.stop_file else None

    def _take(self) -> bool:
        with self.lock:
            if self.issued >= self.args.requests or time.monotonic() > self.deadline:
                return False
            if self.stop_file is not None and self.issued % 20 == 0 and self.stop_file.exists():
                self.deadline = 0
                return False
            self.issued += 1
            return True

    def _fail(self, kind: str, path: str, why: str) -> None:
        with self.lock:
            self.failed += 1
            if len(self.failures) < 50:
                self.failures.append({"kind": kind, "path": path, "why": why[:300]})

    def run_thread(self, seed: int) -> None:
        rng = random.Random(seed)
        last_etag: dict[str, str] = {}
        while self._take():
            roll = rng.random()
            if roll < 0.45:
                kind = "search"
                q = rng.choice(QUERIES)
                path = f"/api/v1/search?q={quote(q)}&per_page={rng.choice((5, 10, 20))}"
                if rng.random() < 0.2:
                    path += f"&page={rng.randint(1, 3)}"
                headers = {}
            else:
                kind = "related" if roll < 0.9 else "widget"
                article_id = rng.choice(self.ids)
                limit = rng.choice((3, 5))
                prefix = "/api/v1/related/" if kind == "related" else "/widget/related/"
                path = f"{prefix}{quote(article_id, safe='')}?limit={limit}"
                headers = {}
                if kind == "related" and path in last_etag and rng.random() < 0.2:
                    headers["If-None-Match"] = last_etag[path]
            started = time.monotonic()
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    body = response.read()
                    status = response.status
                    etag = response.getheader("ETag")
                    ctype = response.getheader("Content-Type") or ""
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.statuses["connection-error"] += 1
                    self.kinds[kind] += 1
                self._fail(kind, path, f"{type(exc).__name__}: {exc}")
                continue
            elapsed = time.monotonic() - started
            with self.lock:
                self.statuses[str(status)] += 1
                self.kinds[kind] += 1
                self.latencies.append(elapsed)
            if status == 304 and "If-None-Match" in headers:
                continue
            if status != 200:
                self._fail(kind, path, f"HTTP {status}: {body[:200].decode(errors='replace')}")
                continue
            if kind == "search":
                try:
                    data = json.loads(body)
                    version = data["version"]
                    assert isinstance(version, str) and version and isinstance(data["hits"], list)
                except (ValueError, KeyError, AssertionError, TypeError):
                    self._fail(kind, path, f"not a search result: {body[:200]!r}")
                    continue
                with self.lock:
                    self.versions[version] += 1
            else:
                if kind == "related":
                    try:
                        assert isinstance(json.loads(body)["related"], list)
                    except (ValueError, KeyError, AssertionError, TypeError):
                        self._fail(kind, path, f"not a related list: {body[:200]!r}")
                        continue
                elif "text/html" not in ctype:
                    self._fail(kind, path, f"widget is {ctype}")
                    continue
                if not etag:
                    self._fail(kind, path, "no ETag")
                    continue
                last_etag[path] = etag
                with self.lock:
                    self.etags[(etag.strip('"'), article_id, limit)] += 1

    def run(self) -> dict:
        print("ready", flush=True)
        started = time.monotonic()
        threads = [threading.Thread(target=self.run_thread, args=(self.args.seed * 1000 + i,), daemon=True)
                   for i in range(self.args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        latencies = sorted(self.latencies) or [0.0]

        def pct(p: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

        return {
            "requests": sum(self.statuses.values()),
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "kinds": dict(self.kinds),
            "search_versions": dict(self.versions),
            "etags": [{"etag": e, "id": i, "limit": n, "count": c} for (e, i, n), c in self.etags.items()],
            "failures": self.failures,
            "duration_s": round(time.monotonic() - started, 1),
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)},
            "host_url": self.host_url,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--ids-file", required=True, help="Article ids for related lookups, one a line.")
    parser.add_argument("--requests", type=int, default=20000, help="Most requests to send.")
    parser.add_argument("--seconds", type=float, default=300, help="Most seconds to run.")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60, help="Seconds one request may take.")
    parser.add_argument("--stop-file", help="Stop early once this file exists.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    report = Load(args).run()
    Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
