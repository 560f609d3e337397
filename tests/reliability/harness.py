"""Shared parts of the reliability checks (importable without pytest).

Real parts only: settings for a temp index, synthetic articles to make builds last long
enough to be interrupted, a small HTTP client, forked build/write processes, lock probes
and an index consistency check that reads the store and the engine directly.
"""

from __future__ import annotations

import dataclasses
import fcntl
import http.client
import json
import multiprocessing
import os
import random
import time
import traceback
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote, urlsplit

from search.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
ADMIN_TOKEN = "reliability-admin-token"

# Words the synthetic articles are made of (the sample site's subject matter).
VOCABULARY = (
    "alcohol cannabis ketamine naloxone fentanyl opioid recovery relapse therapy treatment withdrawal "
    "overdose harm reduction edibles thc cbd liver heart anxiety depression sleep family support teens "
    "stimulant cocaine methamphetamine nicotine vaping inhalants gabapentin counselling peer program "
    "medication dose tolerance craving clinic doctor nurse pharmacy prescription infusion serotonin"
).split()
CATEGORIES = ("Treatment", "Recovery", "Harm reduction", "Cannabis", "Alcohol", "Opioids", "Mental health")


def reliability_settings(tmp: Path, **overrides: Any) -> Settings:
    """Settings for an index under `tmp`; the repo's synonyms and rules; an admin token."""
    values: dict[str, Any] = {
        "index_dir": str(Path(tmp) / "index"),
        "synonyms": str(REPO / "data" / "synonyms.txt"),
        "rules": str(REPO / "data" / "rules.toml"),
        "analytics_db": str(Path(tmp) / "analytics.sqlite"),
        "admin_db": str(Path(tmp) / "admin.sqlite"),
        "admin_token": ADMIN_TOKEN,
        "article_links": "local",
    }
    values.update(overrides)
    return load_settings(overrides=values, environ={}, look_in_cwd=False)


def synthetic_articles(count: int, seed: int = 0, prefix: str = "syn") -> list[dict]:
    rng = random.Random(seed)
    articles = []
    for i in range(count):
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(120, 260))]
        articles.append({
            "id": f"{prefix}-{i}",
            "title": f"{rng.choice(VOCABULARY).capitalize()} and {rng.choice(VOCABULARY)}: note {i}",
            "summary": " ".join(words[:20]),
            "body": "\n\n".join(" ".join(words[j:j + 40]) for j in range(0, len(words), 40)),
            "category": rng.choice(CATEGORIES),
            "tags": rng.sample(VOCABULARY, 3),
            "published": f"202{rng.randint(0, 5)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        })
    return articles


def write_jsonl(path: Path, records: Sequence[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def token_for(n: int) -> str:
    """A made-up word no article contains ('zqb', 'zqc', ...), unique per n, stem-stable."""
    letters = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = "abcdefghijklmnopqrstuvwxyz"[r] + letters
    return "zq" + letters + "x"


# HTTP ------------------------------------------------------------------------------------


class Http:
    """One request per connection (gunicorn's sync workers close after each response)."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 120.0):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                auth: bool = False) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            all_headers = dict(headers or {})
            data = None
            if body is not None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                all_headers.setdefault("Content-Type", "application/json")
            if auth and self.token:
                all_headers["Authorization"] = f"Bearer {self.token}"
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None, auth: bool = False) -> tuple[int, Any]:
        status, _, data = self.request(method, path, body, auth=auth)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, {"raw": data[:500].decode(errors="replace")}

    def search_ids(self, q: str, per_page: int = 10) -> tuple[int, dict]:
        return self.json("GET", f"/api/v1/search?q={quote(q)}&per_page={per_page}")


# Locks and leftovers -----------------------------------------------------------------------


def lock_is_free(path: Path) -> bool:
    """True when nobody holds the flock on `path` (a killed holder's lock is released)."""
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def leftovers(index_dir: Path) -> dict[str, list[str]]:
    """What an interrupted build may leave behind."""
    versions = index_dir / "versions"
    return {
        "build_dirs": sorted(p.name for p in versions.glob(".build-*")) if versions.is_dir() else [],
        "current_tmp": sorted(p.name for p in index_dir.glob(".current-*")),
    }


def lock_holder(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


# Index consistency -----------------------------------------------------------------------


def index_problems(settings: Settings) -> list[str]:
    """What `kindred check` finds wrong with the current version: engine, store, manifest and
    journal agree, related lists point only at existing articles (never at themselves),
    every article has its list, and the lexicon counts what the articles hold."""
    from indexer.check import check_index

    return check_index(settings).problems


# Forked workers (fast: the forkserver has the heavy modules imported once) ---------------


_CONTEXT: multiprocessing.context.BaseContext | None = None


def fork_context() -> multiprocessing.context.BaseContext:
    """A forkserver with indexer.build preloaded: children start in milliseconds, not the
    seconds `python -m kindred` spends importing NLTK, SciPy and scikit-learn."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["indexer.build", "search.service", "tests.reliability.harness"])
        _CONTEXT = ctx
    return _CONTEXT


def child_build(settings: Settings, paths: list[str]) -> None:
    """Body of a forked build process (killed by the crash checks)."""
    from indexer.build import Indexer

    Indexer(settings).build([Path(p) for p in paths])


def child_write(settings: Settings, kind: str, payload: list, barrier, results) -> None:
    """Body of a forked writer: wait at the barrier, then upsert or delete; report the outcome
    as (pid, 'ok' | exception type name, message, traceback)."""
    from indexer.build import Indexer
    from search.article import Article

    indexer = Indexer(settings)
    if barrier is not None:
        barrier.wait()
    try:
        if kind == "upsert":
            report = indexer.upsert([Article.from_mapping(a) for a in payload])
        else:
            report = indexer.delete(payload)
        results.put((os.getpid(), "ok", f"{report.upserted} upserted, {report.deleted} deleted", ""))
    except BaseException as exc:  # reported, never hidden: the test decides what is allowed
        results.put((os.getpid(), type(exc).__name__, str(exc), traceback.format_exc()))


def finish(result: Any, text: str, out: Path | None) -> int:
    """End of a long check run as a script: print its summary (and its problems), write the
    whole result as JSON to `out`, and exit 0 only when it passed."""
    print("\n".join([text, *(f"  PROBLEM: {p}" for p in result.problems)]))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dataclasses.asdict(result), indent=1))
    return 0 if result.passed else 1


def limit_file_size(limit: int) -> None:
    """From now on no file this process writes may grow past `limit` bytes: writes fail with
    EFBIG, as they fail with ENOSPC on a full disk (RLIMIT_FSIZE needs no privilege)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def child_api(settings: Settings, method: str, path: str, payload: Any, results,
              file_size_limit: int | None = None) -> None:
    """Body of a forked process making one admin API request (on a "full disk" with
    `file_size_limit`). Reports (status, body)."""
    from web.app import create_app

    if file_size_limit is not None:
        limit_file_size(file_size_limit)
    app = create_app(settings)
    response = app.test_client().open(path, method=method, json=payload,
                                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    results.put((response.status_code, response.get_data(as_text=True)[:2000]))
    app.extensions["kindred.search"].close()


def child_upsert(settings: Settings, payload: list, results) -> None:
    """Body of a forked writer (killed by the checks): `Indexer.upsert` of `payload`."""
    from indexer.build import Indexer
    from search.article import Article

    report = Indexer(settings).upsert([Article.from_mapping(a) for a in payload])
    results.put(("ok", f"{report.upserted} upserted"))


def child_watch_store(settings: Settings, records: list, words: dict, stop, results) -> None:
    """Body of a reader polling the current version's store while `records` are upserted:
    an article must never be visible without its related list or the words it brings to
    the lexicon (`words`: id -> its own word), nor a word without its article. Reports
    (polls made, problems seen)."""
    from search.store import STORE_FILE, Store
    from search.versions import Layout

    store = Store(Layout(settings.resolve(settings.index_dir)).current_dir() / STORE_FILE)
    ids = [r["id"] for r in records]
    problems: set[str] = set()
    polls = 0
    try:
        while not stop.is_set():
            polls += 1
            # Each statement reads the latest commit: what one saw, the next must see too.
            seen = set(store.articles(ids))
            for article_id in seen:
                if store.related(article_id) is None:
                    problems.add(f"{article_id} visible without its related list")
                if not store.word_frequency(words[article_id]):
                    problems.add(f"{article_id} visible without its word in the lexicon")
            for article_id in set(ids) - seen:
                if store.word_frequency(words[article_id]) and store.article(article_id) is None:
                    problems.add(f"the word of {article_id} in the lexicon without the article")
            time.sleep(0.002)  # leave the writer a core
    finally:
        store.close()
        results.put((polls, sorted(problems)))
