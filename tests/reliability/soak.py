"""Live rebuild under load (`make soak`): no failed request and no half-built index, ever.

    python -m tests.reliability.soak [--rebuilds 3] [--writes 200] [--out var/reliability/soak.json]

1. Index the sample site (plus synthetic articles, so a rebuild takes several seconds) into a
   temp dir and start a real `kindred serve` with 2 gunicorn workers on 127.0.0.1.
2. Start the load generator (tests/reliability/loadgen.py) in its own process: searches,
   related lookups and iframe widgets from several threads, bounded in requests and time.
3. Meanwhile run the full rebuilds (POST /api/v1/reindex and `kindred index` in a
   subprocess, alternately) and the upserts/updates/deletes (admin API), interleaved so
   that writes land before, during and after every rebuild.
4. A watcher thread lists versions/ every few milliseconds and notes whether each version
   directory it sees already holds its manifest.

Pass: 0 failed requests (no 5xx, no 4xx, no connection error, every body as asked for);
0 failed writes; every version a search answered from is one a build completed (reported
by the build, seen complete with its manifest in versions/); every related/widget ETag
decodes to such a version's state; afterwards every upserted article is found, every
deleted one is gone, updates replaced old text, and the engine, store and related lists
agree. Exit status 0 on pass, 1 on failure.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from tests.browser.servers import KindredServer, settings_env
from tests.reliability.harness import (
    ADMIN_TOKEN, REPO, SAMPLE, Http, finish, index_problems, leftovers, reliability_settings, synthetic_articles,
    token_for, write_jsonl,
)
from tests.reliability.loadgen import state_etag


@dataclass
class SoakConfig:
    rebuilds: int = 3
    writes: int = 200
    requests: int = 50_000  # the load stops earlier, when the writes and rebuilds are done
    seconds: float = 900
    extra_articles: int = 1500
    workers: int = 2
    threads: int = 4
    engine: str = "whoosh"
    seed: int = 7
    write_pause: float = 0.05
    settle: float = 1.0  # seconds of load alone before the first write and after the last


@dataclass
class SoakResult:
    passed: bool = False
    problems: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)
    requests_served: int = 0
    requests_failed: int = 0
    writes: dict = field(default_factory=dict)
    rebuilds: list[dict] = field(default_factory=list)
    completed_versions: list[str] = field(default_factory=list)
    search_versions_seen: dict = field(default_factory=dict)
    related_states_seen: dict = field(default_factory=dict)
    duration_s: float = 0.0


class VersionWatcher(threading.Thread):
    """Notes every version directory the moment it appears, and whether it had its manifest."""

    def __init__(self, versions: Path):
        super().__init__(daemon=True)
        self.versions = versions
        self.seen: dict[str, bool] = {}
        self.build_dirs_seen: set[str] = set()
        self._stop_event = threading.Event()

    def scan(self) -> None:
        try:
            names = [p.name for p in self.versions.iterdir()]
        except OSError:
            return
        for name in names:
            if name.startswith("."):
                self.build_dirs_seen.add(name)
            elif name not in self.seen:
                self.seen[name] = (self.versions / name / "manifest.json").is_file()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.scan()
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class Writer(threading.Thread):
    """The admin API writes: new articles, updates (new text), deletes."""

    def __init__(self, http: Http, config: SoakConfig, rebuilding: threading.Event):
        super().__init__(daemon=True)
        self.http = http
        self.config = config
        self.rebuilding = rebuilding
        self.rng = random.Random(config.seed)
        self.alive: dict[str, str] = {}  # id -> its current unique word
        self.replaced: list[tuple[str, str]] = []  # (id, a word it no longer has)
        self.deleted: set[str] = set()
        self.done = 0
        self.during_rebuild = 0
        self.counts = {"upsert": 0, "update": 0, "delete": 0}
        self.failures: list[str] = []
        self._next = 0

    def _article(self, article_id: str, word: str) -> dict:
        words = " ".join(self.rng.choice(("ketamine", "recovery", "naloxone", "sleep", "support")) for _ in range(30))
        return {"id": article_id, "title": f"Soak note {word}", "summary": f"About {word}.",
                "body": f"{word} {words}", "category": "Soak", "tags": ["soak"]}

    def _word(self) -> str:
        self._next += 1
        return token_for(self._next)

    def run(self) -> None:
        for _ in range(self.config.writes):
            during = self.rebuilding.is_set()
            roll = self.rng.random()
            if len(self.alive) < 5 or roll < 0.6:
                kind = "upsert"
                batch = []
                for _ in range(self.rng.randint(1, 3)):
                    word = self._word()
                    article_id = f"soak-{self._next}"
                    batch.append((article_id, word, self._article(article_id, word)))
                status, body = self.http.json("POST", "/api/v1/articles", [b[2] for b in batch], auth=True)
                if status == 200:
                    for article_id, word, _ in batch:
                        self.alive[article_id] = word
            elif roll < 0.8:
                kind = "update"
                article_id = self.rng.choice(sorted(self.alive))
                word = self._word()
                status, body = self.http.json("PUT", "/api/v1/articles", [self._article(article_id, word)], auth=True)
                if status == 200:
                    self.replaced.append((article_id, self.alive[article_id]))
                    self.alive[article_id] = word
            else:
                kind = "delete"
                article_id = self.rng.choice(sorted(self.alive))
                status, body = self.http.json("DELETE", f"/api/v1/articles/{quote(article_id)}", auth=True)
                if status == 200:
                    del self.alive[article_id]
                    self.deleted.add(article_id)
            if status != 200:
                self.failures.append(f"{kind}: HTTP {status} {json.dumps(body)[:200]}")
            self.counts[kind] += 1
            self.done += 1
            if during or self.rebuilding.is_set():
                self.during_rebuild += 1
            time.sleep(self.config.write_pause)


def _cli_rebuild(settings, workdir: Path, sources: list[Path]) -> tuple[int, str, str]:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("KINDRED_")}
    env.update(settings_env(settings))
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-m", "kindred", "index", *map(str, sources), "--quiet"],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    match = re.search(r"into version (\S+)", proc.stdout)
    return proc.returncode, match.group(1) if match else "", (proc.stdout + proc.stderr)[-500:]


def run_soak(workdir: Path, config: SoakConfig = SoakConfig(), log: Callable[[str], None] = print,
             server: KindredServer | None = None, settings=None) -> SoakResult:
    """Run the soak in `workdir`. With `server` and `settings` given (an already running
    server on an already built index), use them instead of building and starting new ones."""
    from indexer.build import Indexer
    from search.versions import Layout, read_manifest

    started = time.monotonic()
    result = SoakResult(config=asdict(config))
    workdir = Path(workdir)
    sources = [SAMPLE]
    own_server = server is None
    if own_server:
        if config.extra_articles:
            sources.append(write_jsonl(workdir / "extra.jsonl", synthetic_articles(config.extra_articles, config.seed)))
        settings = reliability_settings(workdir, engine=config.engine, write_timeout=120,
                                        sources=[str(s) for s in sources])
        log(f"indexing {SAMPLE.name} + {config.extra_articles} synthetic articles ({config.engine}) ...")
        Indexer(settings).build(sources)
    layout = Layout(settings.resolve(settings.index_dir))
    try:
        manifest_sources = read_manifest(layout.current_dir()).get("sources", [])
        sources = [Path(s) for s in manifest_sources] or sources
    except Exception:  # noqa: BLE001 - a fresh index always has one; keep the defaults otherwise
        pass
    initial = layout.current_name()
    completed = [initial]
    watcher = VersionWatcher(layout.versions)
    watcher.scan()
    watcher.seen[initial] = (layout.current_dir() / "manifest.json").is_file()
    watcher.start()

    if own_server:
        log(f"starting kindred serve with {config.workers} workers ...")
        server = KindredServer(settings, workdir, workers=config.workers, startup_timeout=60).start()
    http = Http(server.url, ADMIN_TOKEN)
    load_proc = None
    try:
        from search.store import STORE_FILE, Store

        store = Store(layout.current_dir() / STORE_FILE)
        ids = [i for i in store.article_ids() if not i.startswith("soak-")]
        store.close()
        rng = random.Random(config.seed)
        ids_file = workdir / "loadgen-ids.txt"
        ids_file.write_text("\n".join(rng.sample(ids, min(200, len(ids)))) + "\n")
        stop_file = workdir / "loadgen.stop"
        stop_file.unlink(missing_ok=True)
        out_file = workdir / "loadgen.json"
        load_proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.loadgen", "--url", server.url, "--ids-file", str(ids_file),
             "--requests", str(config.requests), "--seconds", str(config.seconds), "--threads", str(config.threads),
             "--stop-file", str(stop_file), "--out", str(out_file), "--seed", str(config.seed)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
        if load_proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the load generator did not start")
        log(f"load generator running ({config.threads} threads); {config.rebuilds} rebuilds and "
            f"{config.writes} writes start now")
        time.sleep(config.settle)

        rebuilding = threading.Event()
        writer = Writer(http, config, rebuilding)

        def rebuild_all() -> None:
            for k in range(config.rebuilds):
                start_after = int(config.writes * (k + 0.5) / max(1, config.rebuilds))
                while writer.done < start_after and writer.is_alive():
                    time.sleep(0.02)
                rebuilding.set()
                t0 = time.monotonic()
                if k % 2 == 0:
                    status, body = http.json("POST", "/api/v1/reindex", auth=True)
                    entry = {"via": "POST /api/v1/reindex", "status": status,
                             "version": (body or {}).get("version", ""), "indexed": (body or {}).get("indexed")}
                    if status != 200:
                        entry["error"] = json.dumps(body)[:300]
                else:
                    code, version, output = _cli_rebuild(settings, workdir, sources)
                    entry = {"via": "kindred index", "status": code, "version": version}
                    if code != 0:
                        entry["error"] = output
                rebuilding.clear()
                entry["seconds"] = round(time.monotonic() - t0, 1)
                entry["writes_before"] = writer.done
                result.rebuilds.append(entry)
                if entry["version"] and entry["status"] in (0, 200):
                    completed.append(entry["version"])
                log(f"rebuild {k + 1}/{config.rebuilds} via {entry['via']}: {entry['status']} "
                    f"version {entry['version']} in {entry['seconds']}s")

        rebuilder = threading.Thread(target=rebuild_all, daemon=True)
        writer.start()
        rebuilder.start()
        writer.join()
        rebuilder.join()
        time.sleep(config.settle)
        stop_file.write_text("stop")
        load_proc.wait(timeout=120)
        load = json.loads(out_file.read_text())
        result.load = {k: v for k, v in load.items() if k != "etags"}
        result.requests_served = load["requests"]
        result.requests_failed = load["failed"]
        result.writes = {"done": writer.done, "failed": len(writer.failures), "during_rebuild": writer.during_rebuild,
                         **writer.counts, "failures": writer.failures[:20]}
        watcher.stop()
        result.completed_versions = completed

        # Checks ------------------------------------------------------------------------
        problems = result.problems
        if load["failed"]:
            problems.append(f"{load['failed']} of {load['requests']} requests failed: {load['failures'][:5]}")
        if writer.failures:
            problems.append(f"{len(writer.failures)} writes failed: {writer.failures[:5]}")
        bad_builds = [r for r in result.rebuilds if r["status"] not in (0, 200)]
        if bad_builds:
            problems.append(f"rebuilds failed: {bad_builds}")
        complete = set(completed)
        for version in complete:
            if not watcher.seen.get(version):
                problems.append(f"completed version {version} was never seen complete with a manifest")
        incomplete_seen = [v for v, had_manifest in watcher.seen.items() if not had_manifest]
        if incomplete_seen:
            problems.append(f"version directories without a manifest appeared: {incomplete_seen}")
        result.search_versions_seen = load["search_versions"]
        for version in load["search_versions"]:
            if version not in complete:
                problems.append(f"a search answered from version {version!r}, which no build completed")
        max_generation = config.writes + 3 * config.rebuilds + 10
        lookup: dict[tuple[str, str, int], str] = {}
        pairs = {(e["id"], e["limit"]) for e in load["etags"]}
        for version in complete:
            for generation in range(max_generation + 1):
                state = f"{version}.{generation}"
                for article_id, limit in pairs:
                    lookup[(state_etag(state, article_id, limit, load["host_url"]), article_id, limit)] = state
        states: dict[str, int] = {}
        unknown = 0
        for e in load["etags"]:
            state = lookup.get((e["etag"], e["id"], e["limit"]))
            if state is None:
                unknown += e["count"]
            else:
                states[state.rsplit(".", 1)[0]] = states.get(state.rsplit(".", 1)[0], 0) + e["count"]
        result.related_states_seen = states
        if unknown:
            problems.append(f"{unknown} related/widget responses carry an ETag of no completed version's state")

        final = layout.current_name()
        if final != completed[-1]:
            problems.append(f"current is {final}, the last completed build was {completed[-1]}")
        for article_id, word in sorted(writer.alive.items()):
            status, body = http.json("GET", f"/api/v1/search?q={word}&exact=1")
            if status != 200 or article_id not in [h["id"] for h in body["hits"]]:
                problems.append(f"upserted {article_id} is not found by its word {word!r} after the rebuilds")
        for article_id, word in writer.replaced:
            if article_id in writer.alive:
                status, body = http.json("GET", f"/api/v1/search?q={word}&exact=1")
                if status == 200 and article_id in [h["id"] for h in body["hits"]]:
                    problems.append(f"{article_id} is still found by {word!r}, replaced by an update")
        for article_id in sorted(writer.deleted - set(writer.alive)):
            status, _ = http.json("GET", f"/api/v1/articles/{quote(article_id)}")
            if status != 404:
                problems.append(f"deleted {article_id} answers HTTP {status}, not 404, after the rebuilds")
        problems.extend(index_problems(settings))
        left = leftovers(layout.root)
        if left["build_dirs"] or left["current_tmp"]:
            problems.append(f"leftovers after the soak: {left}")
        result.passed = not problems
    finally:
        if load_proc is not None:
            if load_proc.poll() is None:
                load_proc.kill()
                load_proc.wait()
            load_proc.stdout.close()
        if watcher.is_alive():
            watcher.stop()
        if own_server:
            server.stop()
    result.duration_s = round(time.monotonic() - started, 1)
    return result


def summary(result: SoakResult) -> str:
    lines = [
        f"soak {'PASSED' if result.passed else 'FAILED'} in {result.duration_s}s",
        f"  requests served: {result.requests_served}, failed: {result.requests_failed} "
        f"(statuses {result.load.get('statuses')}, latency {result.load.get('latency_ms')})",
        f"  writes: {result.writes.get('done')} ({result.writes.get('upsert')} upserts, {result.writes.get('update')} "
        f"updates, {result.writes.get('delete')} deletes; {result.writes.get('during_rebuild')} during a rebuild), "
        f"failed: {result.writes.get('failed')}",
        "  rebuilds: " + "; ".join(f"{r['via']} -> {r['version']} ({r['seconds']}s)" for r in result.rebuilds),
        f"  versions completed: {result.completed_versions}",
        f"  versions seen by searches: {result.search_versions_seen}",
        f"  versions seen by related/widget ETags: {result.related_states_seen}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = SoakConfig()
    parser.add_argument("--rebuilds", type=int, default=defaults.rebuilds)
    parser.add_argument("--writes", type=int, default=defaults.writes)
    parser.add_argument("--requests", type=int, default=defaults.requests, help="Request budget of the load.")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="Time budget of the load.")
    parser.add_argument("--extra-articles", type=int, default=defaults.extra_articles,
                        help="Synthetic articles indexed with the sample site (longer rebuilds).")
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--engine", choices=["whoosh", "tantivy"], default=defaults.engine)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--out", type=Path, help="Write the full result as JSON here.")
    args = parser.parse_args(argv)
    config = SoakConfig(rebuilds=args.rebuilds, writes=args.writes, requests=args.requests, seconds=args.seconds,
                        extra_articles=args.extra_articles, threads=args.threads, engine=args.engine, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="kindred-soak-") as tmp:
        result = run_soak(Path(tmp), config)
    return finish(result, summary(result), args.out)


if __name__ == "__main__":
    sys.exit(main())
