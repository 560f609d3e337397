"""Crash safety (`make crash`): builds killed with SIGKILL at random moments never hurt serving.

    python -m tests.reliability.crash [--kills 20] [--out var/reliability/crash.json]

The sample site (plus synthetic articles, so a build lasts several seconds) is indexed and
served by a real `kindred serve` (2 workers). One complete build is timed first, from the
moment it holds the build lock to its exit. Then, for each of N rounds:

1. start a full build (`python -m kindred index ...` in a subprocess; `--spawn fork` uses a
   forked process instead, which is what the fast pytest version does);
2. once it holds the build lock, wait a random delay within the timed build duration and
   SIGKILL it (a build that finished first is not counted; the round is repeated);
3. check that `current` still names the previous version (or, for a build killed after it
   switched `current`, while pruning old versions or exiting, the new complete version),
   that the server answers from that version (every worker's /healthz) with the same
   search results and related lists as before, and that the kernel released the locks;
4. run the next build to completion and check it cleaned up: no `.build-*` directory, no
   `.current-*` link, locks free, at most keep_versions complete versions, and the server
   moved to the new version with the same results.

Exit status 0 when every killed build was survived.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from tests.reliability.harness import (
    REPO, SAMPLE, Http, finish, child_build, fork_context, leftovers, lock_holder, lock_is_free, reliability_settings,
    synthetic_articles, write_jsonl,
)

QUERIES = ("ketamine", "molly", "overdose", "does weed have calories", "naloxone", "alcohol liver",
           "relapse prevention", "canna*", "treatment program", "\"special k\"")
RELATED_IDS = ("ketamine-addiction-treatment", "does-weed-have-calories", "fentanyl-test-strips")


@dataclass
class CrashConfig:
    kills: int = 20
    extra_articles: int = 1500
    seed: int = 11
    spawn: str = "cli"  # "cli": python -m kindred index; "fork": a forked process
    live_server: bool = True
    workers: int = 2
    engine: str = "whoosh"


@dataclass
class CrashResult:
    passed: bool = False
    kills: int = 0
    survived: int = 0
    finished_before_kill: int = 0
    build_seconds: float = 0.0
    rounds: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    duration_s: float = 0.0


class _Build:
    """A build in another process: `kindred index` or a forked Indexer.build."""

    def __init__(self, settings, sources: list[Path], spawn: str, workdir: Path):
        self.log_path = workdir / "build-stderr.log"
        if spawn == "cli":
            from tests.browser.servers import settings_env

            env = {k: v for k, v in os.environ.items() if not k.startswith("KINDRED_")}
            env.update(settings_env(settings))
            env["PYTHONPATH"] = str(REPO)
            with open(self.log_path, "wb") as stderr:
                self._popen = subprocess.Popen(
                    [sys.executable, "-m", "kindred", "index", *map(str, sources), "--quiet"],
                    cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            self.pid = self._popen.pid
            self._process = None
        else:
            self._process = fork_context().Process(target=child_build, args=(settings, [str(s) for s in sources]))
            self._process.start()
            self.pid = self._process.pid
            self._popen = None

    def poll(self) -> int | None:
        if self._popen is not None:
            return self._popen.poll()
        return None if self._process.is_alive() else self._process.exitcode

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        if self._popen is not None:
            return self._popen.wait(timeout=600)
        self._process.join(timeout=600)
        return self._process.exitcode


def _wait_for_lock(build: _Build, lock: Path, timeout: float = 300) -> bool:
    """Until the build holds the build lock (file_lock writes the holder's pid)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock_holder(lock) == str(build.pid):
            return True
        if build.poll() is not None:
            return False
        time.sleep(0.002)
    raise RuntimeError("the build never took the build lock")


class _Observer:
    """What readers see: a live server's answers, or an in-process SearchService's."""

    def __init__(self, settings, server=None):
        self.settings = settings
        self.server = server
        self.http = Http(server.url) if server else None

    def snapshot(self) -> dict:
        if self.http is not None:
            results = {}
            for q in QUERIES:
                status, body = self.http.search_ids(q)
                results[q] = (status, body.get("version") if status == 200 else None,
                              [h["id"] for h in body["hits"]] if status == 200 else body)
            for article_id in RELATED_IDS:
                status, body = self.http.json("GET", f"/api/v1/related/{quote(article_id)}")
                results["related:" + article_id] = (status, None,
                                                    [i["id"] for i in body["related"]] if status == 200 else body)
            versions = set()
            for _ in range(6):  # several requests, so every worker answers at least once (very likely)
                status, body = self.http.json("GET", "/healthz")
                versions.add(body.get("version") if status == 200 else f"HTTP {status}")
            return {"results": results, "health_versions": sorted(versions)}
        from search.results import SearchRequest
        from search.service import SearchService

        service = SearchService(self.settings)
        try:
            results = {}
            for q in QUERIES:
                response = service.search(SearchRequest(q=q))
                results[q] = (200, response.version, [h.id for h in response.hits])
            for article_id in RELATED_IDS:
                results["related:" + article_id] = (200, None, [i.id for i in service.related(article_id) or []])
            return {"results": results, "health_versions": [service.version()]}
        finally:
            service.close()


def _same_results(before: dict, after: dict) -> list[str]:
    """Differences in ids (the version may differ when comparing two builds of the same data)."""
    return [key for key, (status, _, ids) in before["results"].items()
            if after["results"].get(key, (None, None, None))[::2] != (status, ids)]


def run_crash(workdir: Path, config: CrashConfig = CrashConfig(), log: Callable[[str], None] = print,
              settings=None, server=None) -> CrashResult:
    from indexer.build import Indexer
    from search.versions import Layout

    started = time.monotonic()
    result = CrashResult(config=asdict(config))
    workdir = Path(workdir)
    rng = random.Random(config.seed)
    sources = [SAMPLE]
    if config.extra_articles:
        sources.append(write_jsonl(workdir / "extra.jsonl", synthetic_articles(config.extra_articles, config.seed)))
    if settings is None:
        settings = reliability_settings(workdir, engine=config.engine)
        log(f"indexing {SAMPLE.name} + {config.extra_articles} synthetic articles ({config.engine}) ...")
        Indexer(settings).build(sources)
    layout = Layout(settings.resolve(settings.index_dir))
    own_server = server is None and config.live_server
    if own_server:
        from tests.browser.servers import KindredServer

        log(f"starting kindred serve with {config.workers} workers ...")
        server = KindredServer(settings, workdir, workers=config.workers, startup_timeout=60).start()
    observer = _Observer(settings, server)
    problems = result.problems
    try:
        # Time one complete build, from holding the lock to exiting.
        build = _Build(settings, sources, config.spawn, workdir)
        _wait_for_lock(build, layout.build_lock)
        t0 = time.monotonic()
        code = build.wait()
        result.build_seconds = round(time.monotonic() - t0, 2)
        if code != 0:
            raise RuntimeError(f"the reference build failed with exit status {code}")
        log(f"a complete build takes {result.build_seconds}s once it holds the lock; killing {config.kills} builds")
        reference = observer.snapshot()
        attempts = 0
        while result.kills < config.kills and attempts < config.kills * 3:
            attempts += 1
            previous = layout.current_name()
            before = observer.snapshot()
            known = {p.name for p in layout.complete_versions()}
            build = _Build(settings, sources, config.spawn, workdir)
            if not _wait_for_lock(build, layout.build_lock):
                code = build.wait()
                errors = build.log_path.read_text(errors="replace")[-500:] if build.log_path.exists() else ""
                problems.append(f"a build exited with {code} before taking the lock: {errors}")
                continue
            delay = rng.uniform(0, result.build_seconds)
            time.sleep(delay)
            if build.poll() is not None:
                code = build.wait()
                result.finished_before_kill += 1
                log(f"  build finished ({code}) before the kill at {delay:.2f}s; not counted")
                if code != 0:
                    problems.append(f"an unkilled build failed with exit status {code}")
                continue
            build.kill()
            build.wait()
            result.kills += 1
            left = leftovers(layout.root)
            build_dirs = [layout.versions / name for name in left["build_dirs"]]
            orphans = sorted({p.name for p in layout.complete_versions()} - known)
            now_current = layout.current_name()
            switched = now_current != previous
            if switched:
                phase = "after switching current (pruning old versions, exiting)"
                orphans = [o for o in orphans if o != now_current]
            elif orphans:
                phase = "renamed complete, before switching current"
            elif any((d / "manifest.json").exists() for d in build_dirs):
                phase = "manifest written, before rename"
            elif build_dirs:
                phase = "writing the new version"
            else:
                phase = "reading and analyzing sources"
            round_problems: list[str] = []
            if switched:
                # Killed after publishing: current must name the new version, complete.
                if now_current in known or not (layout.versions / now_current / "manifest.json").is_file():
                    round_problems.append(f"current moved from {previous} to {now_current}, not a new complete version")
                if not (layout.versions / previous).is_dir():
                    round_problems.append(f"the previous version {previous} is gone")
                previous = now_current
            if not lock_is_free(layout.build_lock) or not lock_is_free(layout.write_lock):
                round_problems.append("a lock is still held after the kill")
            after = observer.snapshot()
            if after["health_versions"] != [previous]:
                round_problems.append(f"/healthz answers {after['health_versions']}, not {previous}")
            served_from = {v for _, v, _ in after["results"].values() if v}
            if served_from - {previous}:
                round_problems.append(f"searches answered from {served_from}, not {previous}")
            changed = _same_results(before if not switched else reference, after)
            if changed:
                round_problems.append(f"results changed after the kill: {changed}")

            # The next build succeeds and cleans up after the killed one.
            try:
                version = Indexer(settings).build(sources).version
            except Exception as exc:  # noqa: BLE001 - reported as a failed round
                version = None
                round_problems.append(f"the next build failed: {type(exc).__name__}: {exc}")
            if version:
                left_after = leftovers(layout.root)
                if left_after["build_dirs"] or left_after["current_tmp"]:
                    round_problems.append(f"the next build left {left_after}")
                if layout.current_name() != version:
                    round_problems.append(f"current is {layout.current_name()}, not the new {version}")
                if not lock_is_free(layout.build_lock) or not lock_is_free(layout.write_lock):
                    round_problems.append("a lock is held after the next build")
                complete = [p.name for p in layout.complete_versions()]
                if len(complete) > settings.keep_versions:
                    round_problems.append(f"{len(complete)} complete versions kept: {complete}")
                fresh = observer.snapshot()
                if fresh["health_versions"] != [version]:
                    round_problems.append(f"after the next build /healthz answers {fresh['health_versions']}")
                changed = _same_results(reference, fresh)
                if changed:
                    round_problems.append(f"the rebuilt index answers differently: {changed}")
            entry = {"round": result.kills, "delay_s": round(delay, 3), "phase": phase, "switched": switched,
                     "leftover_build_dirs": len(build_dirs), "orphan_versions": len(orphans),
                     "survived": not round_problems, "problems": round_problems}
            result.rounds.append(entry)
            if not round_problems:
                result.survived += 1
            problems.extend(f"kill {result.kills}: {p}" for p in round_problems)
            log(f"  kill {result.kills}/{config.kills} at {delay:.2f}s ({phase}): "
                f"{'survived' if not round_problems else 'FAILED ' + '; '.join(round_problems)}")
        if result.kills < config.kills:
            problems.append(f"only {result.kills} of {config.kills} builds could be killed in {attempts} attempts")
        result.passed = not problems and result.survived == result.kills == config.kills
    finally:
        if own_server:
            server.stop()
    result.duration_s = round(time.monotonic() - started, 1)
    return result


def summary(result: CrashResult) -> str:
    phases: dict[str, int] = {}
    for r in result.rounds:
        phases[r["phase"]] = phases.get(r["phase"], 0) + 1
    lines = [
        f"crash {'PASSED' if result.passed else 'FAILED'} in {result.duration_s}s: "
        f"{result.survived}/{result.kills} killed builds survived "
        f"({result.finished_before_kill} builds finished before their kill and were not counted)",
        f"  build duration (lock to exit): {result.build_seconds}s; kill phases: {phases}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = CrashConfig()
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument("--extra-articles", type=int, default=defaults.extra_articles)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--spawn", choices=["cli", "fork"], default=defaults.spawn)
    parser.add_argument("--engine", choices=["whoosh", "tantivy"], default=defaults.engine)
    parser.add_argument("--no-server", action="store_true", help="Check with an in-process SearchService instead.")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    config = CrashConfig(kills=args.kills, extra_articles=args.extra_articles, seed=args.seed, spawn=args.spawn,
                         live_server=not args.no_server, engine=args.engine)
    with tempfile.TemporaryDirectory(prefix="kindred-crash-") as tmp:
        result = run_crash(Path(tmp), config)
    return finish(result, summary(result), args.out)


if __name__ == "__main__":
    sys.exit(main())
