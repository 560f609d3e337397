"""Hostile queries through HTTP: what one abusive request costs a `kindred serve` worker.

    python bench/abuse.py [--quick] [--engine whoosh|tantivy] [--json PATH]

LISA (5,999 library-science abstracts, ../shared/corpora/lisa) is indexed with `kindred index`
and served by `kindred serve` (gunicorn, 2 sync workers) on 127.0.0.1. One request at a time,
each a new text (so no response comes from the cache), the stage sends:

- a 1,000-letter word of random letters;
- a common word and 60 excluded two-word phrases of common words (over the default
  `search_max_exclusions`, so a 400), and the same with 10 (at the limit: searched);
- 110 quoted phrases (over `search_max_phrases`: a 400), and 10 (searched);
- the same 60 excluded and 110 quoted phrases to a second server whose limits let them
  through, so the engine's own work on them is measured too;
- then a burst of unique 142-word queries (corpus words and made-up ones) from two clients.

It reports each kind's status and latency (client side, through HTTP) and every worker's
resident memory (VmRSS) before and after: the targets are < 100 ms for the 1,000-letter word
and the 60-excluded-phrase query, and no worker growing by more than 20 MiB from them.
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
import random
import re
import string
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote_plus

from bench.common import KINDRED, RESULTS, SEED, clean_env, latency_stats, remove, workers_rss_mib, write_json
from bench.corpora import read
from bench.http import Servers, kindred_server, write_config

CORPUS = "lisa"
FULL = {"repeats": 20, "burst": 6000, "burst_words": 142, "sample_every": 500}
QUICK = {"repeats": 3, "burst": 200, "burst_words": 142, "sample_every": 100}
TARGET_MS = 100
TARGET_RSS_MIB = 20
# Lets the over-the-limit queries through, to measure the engine's work on them.
RAISED_LIMITS = {"search_max_exclusions": "100", "search_max_phrases": "200"}
STOP = frozenset("the and for that with this from are was were has have been which their its not but all any "
                 "also can into more other such than they these some".split())


def common_words(docs: list[dict], count: int, longest: int) -> list[str]:
    counts = Counter(w for d in docs for w in re.findall(r"[a-z]+", (d.get("title", "") + " " + d["body"]).lower())
                     if 3 <= len(w) <= longest and w not in STOP)
    return [w for w, _ in counts.most_common(count)]


def hostile_queries(words: list[str], rng: random.Random) -> dict[str, str]:
    """One fresh text of each kind (common words, so the engine has the most to walk; words
    of at most five letters, so every query stays within the 1,000 characters allowed)."""
    def pair() -> str:
        return f"{rng.choice(words)} {rng.choice(words)}"

    def excluded(n: int) -> str:
        return rng.choice(words) + " " + " ".join(f'-"{pair()}"' for _ in range(n))

    def quoted(n: int) -> str:
        return " ".join(f'"{pair()}"' if i < n // 10 else f'"{rng.choice(words)}"' for i in range(n))

    return {
        "1,000-letter word": "".join(rng.choice(string.ascii_lowercase) for _ in range(1000)),
        "60 excluded phrases": excluded(60),
        "10 excluded phrases": excluded(10),
        "110 quoted phrases": quoted(110),
        "10 quoted phrases": " ".join(f'"{pair()}"' for _ in range(10)),
    }


def get(base: str, query: str) -> tuple[int, float]:
    url = f"{base}/api/v1/search?q={quote_plus(query)}"
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    return status, time.perf_counter() - started


def growth(before: dict[int, float], after: dict[int, float]) -> float:
    return round(max(after[pid] - before.get(pid, after[pid]) for pid in after), 1)


def hostile_round(base: str, master: int, kinds: list[str], words: list[str], repeats: int, seed: int) -> dict:
    rng = random.Random(seed)
    for _ in range(4):  # both workers have opened the index and served ordinary queries
        get(base, f"{rng.choice(words)} {rng.choice(words)}")
    out = {}
    for kind in kinds:
        before = workers_rss_mib(master)
        statuses, seconds = Counter(), []
        for _ in range(repeats):
            status, elapsed = get(base, hostile_queries(words, rng)[kind])
            statuses[status] += 1
            seconds.append(elapsed)
        after = workers_rss_mib(master)
        stats = latency_stats(seconds, sum(seconds))
        out[kind] = {"statuses": dict(statuses), "p50_ms": stats["p50_ms"], "max_ms": stats["max_ms"],
                     "rss_before_mib": before, "rss_after_mib": after, "rss_growth_mib": growth(before, after)}
        print(f"  {kind:22} {dict(statuses)}  p50 {stats['p50_ms']:8.1f} ms  max {stats['max_ms']:8.1f} ms  "
              f"worker RSS +{out[kind]['rss_growth_mib']} MiB", flush=True)
    return out


def burst(base: str, master: int, words: list[str], limits: dict) -> dict:
    """Unique long queries (as in issue 14: 142 words, here cut at 1,000 characters) from two
    clients at once; the workers' RSS every `sample_every` queries shows it level off."""
    rng = random.Random(SEED + 1)
    made_up = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 12))) for _ in range(50_000)]
    queries = [" ".join(rng.choice(words) if rng.random() < 0.5 else rng.choice(made_up)
                        for _ in range(limits["burst_words"]))[:1000] for _ in range(limits["burst"])]
    before = workers_rss_mib(master)
    curve = [[0, before]]
    results: list[tuple[int, float]] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        for start in range(0, len(queries), limits["sample_every"]):
            results += pool.map(lambda q: get(base, q), queries[start:start + limits["sample_every"]])
            curve.append([len(results), workers_rss_mib(master)])
            print(f"  {len(results):6,} unique long queries: worker RSS {curve[-1][1]} MiB", flush=True)
    wall = time.perf_counter() - started
    after = curve[-1][1]
    stats = latency_stats([s for _, s in results], wall)
    statuses = Counter(status for status, _ in results)
    half = curve[len(curve) // 2]
    print(f"  burst: {dict(statuses)}  p50 {stats['p50_ms']:.1f} ms  worker RSS {before} -> {after}", flush=True)
    return {"queries": len(queries), "words": limits["burst_words"], "statuses": dict(statuses), **stats,
            "rss_before_mib": before, "rss_after_mib": after, "rss_growth_mib": growth(before, after),
            "rss_curve_mib": curve, "second_half_growth_mib": growth(half[1], after), "half_at": half[0]}


def run(limits: dict, engine: str) -> dict:
    docs = read(CORPUS)
    tmp = Path(tempfile.mkdtemp(prefix="kindred-bench-abuse-"))
    servers = Servers()
    try:
        with (tmp / "docs.jsonl").open("w", encoding="utf-8") as fh:
            for d in docs:
                fh.write(json.dumps({"id": d["id"], "title": d.get("title") or "untitled", "body": d["body"]}) + "\n")
        config = write_config(tmp, "build", engine)
        started = time.perf_counter()
        subprocess.run([KINDRED, "--config", str(config), "index", str(tmp / "docs.jsonl"), "--quiet"], check=True,
                       env=clean_env(), capture_output=True, text=True)
        build_s = round(time.perf_counter() - started, 1)
        words = common_words(docs, 60, longest=5)
        kinds = list(hostile_queries(words, random.Random(0)))
        print(f"{CORPUS}: {len(docs):,} articles indexed with {engine} in {build_s} s", flush=True)

        proc, base = kindred_server(servers, tmp, "defaults", engine)
        print("kindred serve, default limits:", flush=True)
        defaults = hostile_round(base, proc.pid, kinds, words, limits["repeats"], SEED)
        long_queries = burst(base, proc.pid, words, limits)
        servers.stop_all()

        proc, base = kindred_server(servers, tmp, "raised", engine, **RAISED_LIMITS)
        print(f"kindred serve, limits raised ({', '.join(f'{k}={v}' for k, v in RAISED_LIMITS.items())}):", flush=True)
        raised = hostile_round(base, proc.pid, ["60 excluded phrases", "110 quoted phrases"], words,
                               limits["repeats"], SEED + 2)
    finally:
        servers.stop_all()
        remove(tmp)
    return {"corpus": CORPUS, "articles": len(docs), "engine": engine, "build_s": build_s, "limits": limits,
            "common_words": words, "defaults": defaults, "raised": raised, "raised_limits": RAISED_LIMITS,
            "burst": long_queries, "targets": {"ms": TARGET_MS, "rss_mib": TARGET_RSS_MIB}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few repeats and a short burst")
    parser.add_argument("--engine", choices=["whoosh", "tantivy"], default="whoosh")
    parser.add_argument("--json", type=Path, default=RESULTS / "abuse.json")
    args = parser.parse_args()
    write_json(args.json, run(QUICK if args.quick else FULL, args.engine))
    print(f"wrote {args.json}", flush=True)


if __name__ == "__main__":
    main()
