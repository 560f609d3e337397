"""The related batch in process and on a local Dask cluster (issue 18 target), by corpus size.

    python bench/scaling.py [--sizes 100000 300000] [--workers 2] [--repeats 2] [--json results.json]

Each size runs in a fresh process: `bench.corpora.synthetic` articles (the shared corpora
once, then perturbed repeats), analyzed once (timed apart), then the related batch of a
build as `kindred index` runs it (`indexer.related_build.store_batch`: fit, top-k
neighbours, blend and render, each block's lists written to a new store as it finishes,
then the model; one transaction; the store then synced) in this process and on a
`local:N` cluster started for each run (its start counted in its time and shown apart),
`--repeats` times each, in turns (in process, cluster, cluster, in process, ...): the
speed-up is the ratio of the two columns' median times, as one run of each varies by more
than a tenth on this machine. The stores' related tables are compared row for row (by
digest); peak RSS is each process's own (VmHWM: the workers' read on them at the end, the
building process's reset before each run), the highest of the runs.
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
import hashlib
import json
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from contextlib import closing


def peak_rss_mib() -> float:
    """This process's VmHWM (run on each worker; defined here so it travels by value). Not
    ru_maxrss: Linux carries it over from the parent through fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> None:
    """VmHWM starts again from the current RSS (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


RELATED_TABLES = ("related", "related_targets", "related_candidates", "related_vectors", "related_terms",
                  "related_topics")


def fingerprint(store_path: Path) -> str:
    """One digest of a store's related tables, every row in key order."""
    digest = hashlib.blake2b(digest_size=16)
    with closing(sqlite3.connect(store_path)) as conn:
        for table in RELATED_TABLES:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def timed_batch(settings, articles, docs, surface_of, runner, directory: Path) -> tuple[float, dict, str]:
    """(seconds, the batch's timings, its store's fingerprint): the store is removed after."""
    from indexer.related_build import store_batch
    from search.store import Store

    directory.mkdir()
    store = Store.create(directory)
    reset_peak_rss()
    started = time.perf_counter()
    timings = store_batch(settings, store, articles, docs, surface_of, runner)
    store.finish()  # synced as a build's is: counted, as the commit it replaced was
    seconds = time.perf_counter() - started
    digest = fingerprint(store.path)
    shutil.rmtree(directory)
    return seconds, {k: round(v, 1) for k, v in timings.items()}, digest


def turns(repeats: int) -> list[str]:
    """Which column runs when: in process and on the cluster in turns, every other round in
    reverse (ABBA), so a machine that slows down or speeds up during the stage weighs on both
    columns alike."""
    return [where for round_ in range(repeats)
            for where in (("in_process", "on_cluster") if round_ % 2 == 0 else ("on_cluster", "in_process"))]


def median_speedup(totals: dict[str, list[float]]) -> float:
    """The cluster's speed-up: the in-process runs' median time over the cluster runs'."""
    return statistics.median(totals["in_process"]) / statistics.median(totals["on_cluster"])


def run_one(n: int, workers: int, repeats: int) -> dict:
    from bench.corpora import synthetic
    from indexer.lexicon import surface_words
    from indexer.related_build import InProcess
    from indexer.related_cluster import cluster_runner
    from search.analysis import WordMemory
    from search.article import Article
    from search.config import load_settings
    from search.document import analyze_article

    settings = load_settings(environ={}, look_in_cwd=False)
    articles = [Article.from_mapping(d) for d in synthetic(n)]
    started = time.perf_counter()
    memory = WordMemory()
    indexed = [analyze_article(a, settings.field_weights, memory) for a in articles]
    docs = [item.doc for item in indexed]
    words: dict[str, int] = {}
    for item in indexed:
        for word in item.words:
            words[word] = words.get(word, 0) + 1
    surface_of = surface_words(words, memory.terms())
    del indexed, words
    analyze_s = time.perf_counter() - started

    totals: dict[str, list[float]] = {"in_process": [], "on_cluster": []}
    timings: dict[str, dict] = {}
    digests: set[str] = set()
    worker_peaks: list[float] = []
    main_peaks: dict[str, float] = {}
    address = f"local:{workers}"
    with tempfile.TemporaryDirectory(prefix="kindred-scaling-") as scratch:
        for turn, where in enumerate(turns(repeats)):
            directory = Path(scratch) / str(turn)
            if where == "in_process":
                seconds, made, digest = timed_batch(settings, articles, docs, surface_of, InProcess(), directory)
            else:
                with cluster_runner(address) as runner:
                    seconds, made, digest = timed_batch(settings, articles, docs, surface_of, runner, directory)
                    seconds += runner.timings["cluster_start_s"]  # the start counts; comparing stores does not
                    peaks = sorted(runner.client.run(peak_rss_mib).values())
                    if not worker_peaks or max(peaks) > max(worker_peaks):
                        worker_peaks = peaks
                    made |= {k: round(v, 1) for k, v in runner.timings.items()}
            main_peaks[where] = max(main_peaks.get(where, 0.0), peak_rss_mib())
            totals[where].append(seconds)
            digests.add(digest)
            if len(totals[where]) == 1:  # the parts shown are the first run's of each column
                timings[where] = {"total_s": round(seconds, 1), **made}
    return {
        "articles": n, "workers": workers, "cluster": address, "analyze_s": round(analyze_s, 1),
        "in_process": timings["in_process"], "on_cluster": timings["on_cluster"],
        "runs": {where: [round(t, 1) for t in values] for where, values in totals.items()},
        "speedup": round(median_speedup(totals), 2), "identical": len(digests) == 1,
        "worker_peak_rss_mib": [round(v) for v in worker_peaks],
        "main_peak_rss_mib": round(main_peaks["in_process"]),
        "main_peak_rss_on_cluster_mib": round(main_peaks["on_cluster"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each column, in turns (ABBA); the speed-up is of their medians")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.workers, args.repeats)), flush=True)
        return
    results = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--workers", str(args.workers),
                              "--repeats", str(args.repeats)],
                             stdout=subprocess.PIPE, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
        if args.json:  # what is measured so far survives a later size failing
            args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
