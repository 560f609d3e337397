"""A full build's throughput and where its time goes (issue 16 target: >= 2,000 docs/s).

    python bench/build.py [--articles N] [--engine tantivy] [--json results.json]

`kindred index` of the Wikipedia 2015 articles (all 28,053 by default) with default
settings and the tantivy engine, in a fresh process, into a temporary index directory:
docs/s over the whole `Indexer.build` call and each step's seconds and share (read,
analysis, engine, store, related), the related step split into fit, top-k, blend and its
store writes (`BuildReport.timings`, `related_timings`).
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
import tempfile
import time

from bench.common import max_rss_mib, write_json
from bench.corpora import read

TARGET_DOCS_PER_S = 2_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, help="the first N articles (default: all)")
    parser.add_argument("--quick", action="store_true", help="the first 3,000 articles")
    parser.add_argument("--engine", default="tantivy", choices=["whoosh", "tantivy"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    limit = 3_000 if args.quick else args.articles

    from indexer.build import Indexer
    from search.config import load_settings

    docs = read("wikipedia-2015")[:limit]
    with tempfile.TemporaryDirectory(prefix="kindred-build-") as tmp:
        source = Path(tmp) / "wikipedia.jsonl"
        with source.open("w", encoding="utf-8") as out:
            for d in docs:
                out.write(json.dumps({"id": str(d["id"]), "title": d.get("title") or "untitled",
                                      "body": d.get("body", ""), "category": d.get("category", "")}) + "\n")
        settings = load_settings(overrides={"index_dir": str(Path(tmp) / "index"), "engine": args.engine},
                                 environ={}, look_in_cwd=False)
        started = time.perf_counter()
        report = Indexer(settings).build([source])
        build_s = time.perf_counter() - started
    steps = {k[:-2]: round(v, 2) for k, v in report.timings.items()}
    result = {
        "corpus": "wikipedia-2015", "engine": args.engine, "docs": report.indexed, "build_s": round(build_s, 1),
        "docs_per_s": round(report.indexed / build_s), "target_docs_per_s": TARGET_DOCS_PER_S,
        "steps_s": steps, "shares": {k: round(v / build_s, 3) for k, v in steps.items()},
        "related_steps_s": {k[:-2]: round(v, 2) for k, v in report.related_timings.items()},
        "peak_rss_mib": round(max_rss_mib()),
    }
    print(json.dumps(result), flush=True)
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
