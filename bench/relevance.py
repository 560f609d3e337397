"""Search quality on every judged collection: `kindred eval` with the defaults, both engines, beside the peers.

    python bench/relevance.py [--quick] [--collections ...] [--json PATH]

Runs the command line exactly as a user would (from the repository root, without --config,
so no site synonyms or rules, and with no KINDRED_* variables) and keeps its JSON: nDCG@10,
MAP, recall@100 over all judged queries, the mean query time and the build time. Each row
carries the best peer's nDCG@10 on the collection (raw Whoosh, raw tantivy, SQLite FTS5,
bm25s; bench/judged.py, cached) and Kindred's margin over it, and each row is compared with
bench/relevance_baseline.json: nDCG@10 before issue 16's round, which may drop by its tolerance at most.
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
import time

from bench.common import KINDRED, REPO, RESULTS, clean_env, run_json, write_json
from bench.corpora import CORPORA
from bench.judged import COLLECTIONS, Judged, load, peer_scores

ENGINES = ("whoosh", "tantivy")
BASELINE = Path(__file__).resolve().with_name("relevance_baseline.json")


def baseline_comparison(rows: list[dict]) -> dict:
    """Each measured row that the baseline has, beside it: the change and whether it is within the
    tolerance (no worse than the baseline minus it)."""
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    compared = []
    for row in rows:
        before = baseline["ndcg@10"].get(row["collection"], {}).get(row["engine"])
        if before is not None:
            change = round(row["ndcg@10"] - before, 4)
            compared.append({"collection": row["collection"], "engine": row["engine"], "before": before,
                             "after": row["ndcg@10"], "change": change, "met": change >= -baseline["tolerance"]})
    return {"commit": baseline["commit"], "tolerance": baseline["tolerance"], "rows": compared}


def command(collection: Judged, engine: str) -> list[str]:
    folder = collection.docs.parent
    return [KINDRED, "eval", "--docs", str(collection.docs), "--queries", str(folder / "queries.jsonl"),
            "--qrels", str(folder / "qrels.tsv"), "--engine", engine]


def shown(args: list[str]) -> str:
    """The command as a reader types it from the repository root."""
    text = " ".join(args).replace(str(CORPORA), "../shared/corpora" if CORPORA == REPO.parent / "shared" / "corpora"
                                  else str(CORPORA))
    return text.replace(str(REPO) + "/", "").replace(KINDRED, ".venv/bin/kindred")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tantivy only (smoke run)")
    parser.add_argument("--collections", nargs="+", choices=COLLECTIONS, default=list(COLLECTIONS))
    parser.add_argument("--json", type=Path, default=RESULTS / "relevance.json")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for name in args.collections:
        collection = load(name)
        peers = {system: scores["ndcg@10"] for system, scores in peer_scores(collection).items()}
        best = max(peers.values())
        for engine in ENGINES:
            if args.quick and engine == "whoosh":
                continue
            cmd = command(collection, engine)
            t = time.perf_counter()
            result = run_json(cmd, cwd=REPO, env=clean_env())
            rows.append({"collection": name, "engine": engine, "command": shown(cmd),
                         "wall_s": round(time.perf_counter() - t, 1), **result, "peers": peers,
                         "best_peer": best, "margin": round(result["ndcg@10"] - best, 4)})
            print(f"  {name:18} {engine:8} nDCG@10 {result['ndcg@10']:.4f} (best peer {best:.4f}, "
                  f"{result['ndcg@10'] - best:+.4f})  MAP {result['map']:.4f}  R@100 {result['recall@100']:.4f}  "
                  f"{result['mean_query_ms']:.1f} ms/query", flush=True)
    comparison = baseline_comparison(rows)
    print(f"\nnDCG@10 against {comparison['commit']} (tolerance -{comparison['tolerance']}):")
    for row in comparison["rows"]:
        print(f"  {row['collection']:18} {row['engine']:8} {row['before']:.4f} -> {row['after']:.4f} "
              f"({row['change']:+.4f}) {'met' if row['met'] else 'NOT met'}")
    write_json(args.json, {"quick": args.quick, "rows": rows, "wall_s": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
