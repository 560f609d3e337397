"""Related-articles build time and memory at 10k / 30k / 100k articles.

    python bench/related_scale.py [--sizes 10000 30000 100000] [--json results.json]

Each size runs in a fresh process so peak memory (max RSS) is its own. Analysis (the NLTK
pipeline, shared with the engine) is timed apart from fit + top-k, as the targets ask.
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
import resource
import subprocess
import time


def run_one(n: int) -> dict:
    from bench.corpora import mixed
    from indexer.related import RelatedModel
    from search.article import Article
    from search.document import IndexDoc

    articles = [Article.from_mapping(d) for d in mixed(n)]
    started = time.perf_counter()
    docs = [IndexDoc.from_article(a) for a in articles]
    analyze = time.perf_counter() - started
    del articles
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    model = RelatedModel(n_candidates=20, n_threads=2).fit(docs)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    neighbors = model.neighbors()
    top_k = time.perf_counter() - started
    assert len(neighbors) == n
    return {
        "articles": n,
        "analyze_s": round(analyze, 1),
        "fit_s": round(fit, 1),
        "top20_s": round(top_k, 1),
        "fit_plus_top20_s": round(fit + top_k, 1),
        "vocabulary": len(model.terms_),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_fit_mib": round(rss_before / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    results = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
