"""Search defaults chosen so they generalize: leave-one-collection-out over every judged collection.

    python bench/tune.py [--engine tantivy] [--titles 3 4 5 6] [--json PATH]

Every setting of the grid below is scored (nDCG@10, MAP, recall@100, as `kindred eval`
computes them) on every judged collection of bench/judged.py: adi, cacm, cisi, cranfield,
lisa, time and the MedQuAD questions. A setting's *margin* on a collection is its nDCG@10
minus the best peer's (raw Whoosh, raw tantivy, SQLite FTS5, bm25s) on that collection.

- Leave one collection out: for each collection, the setting with the largest *worst*
  margin over the other collections is chosen, then reported on the one left out, which
  played no part in choosing it.
- The defaults are the setting with the largest worst margin over all collections (ties:
  the larger mean margin), not the best mean: a default must not buy one collection's gain
  with another's loss.

Frugal with the CPU: each collection's index is built once per engine and build-time
setting (the field weights), and the query-time settings (proximity, rare-word emphasis) are varied
in-process over the same open index; the peers' rankings are cached (bench/judged.py).
Collections are evaluated as `kindred eval` does without --config: no synonyms or rules.
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
import itertools
import logging
import tempfile
import time
from typing import Iterable, Mapping

from bench.common import RESULTS, remove, write_json
from bench.judged import COLLECTIONS, DEPTH, PEERS, Judged, load, peer_scores

# Build-time settings: each value needs its own index. The title weight (3-6) and the feedback
# (off, or 10 documents / 10 words weighing 0.25, 0.5 or 1 word) were chosen by an earlier run of
# this protocol over the same collections (docs/search.md); `--titles` widens the build grid.
TITLES = (5,)
FEEDBACK = {"search_feedback_docs": 10, "search_feedback_terms": 10, "search_feedback_words": 0.5}
# Query-time settings, varied over the same open index.
PROXIMITY = (0.1, 0.15, 0.2)
RARE_WORD_EMPHASIS = (0.0, 0.15, 0.25)
QUERY_GRID = [{"search_proximity_weight": p, "search_rare_word_emphasis": e, **FEEDBACK}
              for p, e in itertools.product(PROXIMITY, RARE_WORD_EMPHASIS)]
METRIC = "ndcg@10"


def build_grid(titles: Iterable[int]) -> list[dict]:
    return [{"field_weights": {"title": title, "labels": 2, "summary": 1, "body": 1}} for title in titles]


def label(setting: Mapping[str, object]) -> str:
    """A setting in a few words: 'title 5, proximity 0.1, rare words 0.15, feedback 0.5 word'."""
    feedback = ("feedback off" if not setting["search_feedback_docs"] else
                f"feedback {setting['search_feedback_words']} word")
    return (f"title {setting['field_weights']['title']}, proximity {setting['search_proximity_weight']}, "
            f"rare words {setting['search_rare_word_emphasis']}, {feedback}")


def score_collection(collection: Judged, engine: str, builds: list[dict]) -> list[dict]:
    """Every grid setting's metrics on one collection: [{setting, metrics}]."""
    from indexer.build import Indexer
    from indexer.evaluate import evaluation_settings
    from search.evaluation import evaluate
    from search.service import SearchService

    rows = []
    judged = {q: text for q, text in collection.queries.items() if q in collection.qrels}
    for build in builds:
        tmp = Path(tempfile.mkdtemp(prefix=f"kindred-tune-{collection.name}-"))
        try:
            settings = evaluation_settings(None, {"engine": engine, "index_dir": str(tmp / "index"),
                                                  "search_cache_size": 0, **build}, environ={})
            Indexer(settings).build([collection.docs])
            for query in QUERY_GRID:
                service = SearchService(settings.replace(**query))
                try:
                    rankings = {q: service.rank(text, DEPTH, operators=False) for q, text in judged.items()}
                finally:
                    service.close()
                rows.append({"setting": {**build, **query}, **evaluate(rankings, collection.qrels)})
        finally:
            remove(tmp)
    return rows


def margins(scores: Mapping[str, list[dict]], best_peer: Mapping[str, float]) -> list[dict[str, float]]:
    """For each grid setting (in grid order), its margin over the best peer on each collection."""
    names = list(scores)
    return [{name: scores[name][i][METRIC] - best_peer[name] for name in names}
            for i in range(len(scores[names[0]]))]


def choose(by_setting: list[dict[str, float]], collections: Iterable[str]) -> int:
    """The setting with the largest worst margin over `collections` (ties: the larger mean)."""
    chosen = list(collections)
    return max(range(len(by_setting)),
               key=lambda i: (round(min(by_setting[i][c] for c in chosen), 4),
                              sum(by_setting[i][c] for c in chosen) / len(chosen)))


def leave_one_out(by_setting: list[dict[str, float]]) -> tuple[dict[str, int], int]:
    """For each collection, the setting chosen on the others; and the setting chosen on all."""
    names = list(by_setting[0])
    return {name: choose(by_setting, [c for c in names if c != name]) for name in names}, choose(by_setting, names)


def defaults_line(result: dict, collections: str) -> str:
    return (f"Defaults chosen on every {collections}: {result['default_label']} "
            f"(worst margin {result['default_worst_margin']:+.4f}).")


def protocol(scores: Mapping[str, list[dict]], peers: Mapping[str, Mapping[str, dict]]) -> dict:
    """Leave-one-collection-out rows and the defaults chosen on every collection."""
    best_peer = {name: max(p[METRIC] for p in peers[name].values()) for name in scores}
    by_setting = margins(scores, best_peer)
    folds, default = leave_one_out(by_setting)
    rows = []
    for name, chosen in folds.items():
        result = scores[name][chosen]
        rows.append({"collection": name, "setting": result["setting"], "label": label(result["setting"]),
                     **{k: result[k] for k in ("ndcg@10", "map", "recall@100", "queries")},
                     "peers": {p: peers[name][p][METRIC] for p in PEERS}, "best_peer": best_peer[name],
                     "margin": round(result[METRIC] - best_peer[name], 4)})
    setting = scores[next(iter(scores))][default]["setting"]
    return {"leave_one_out": rows, "default": setting, "default_label": label(setting),
            "default_scores": {name: {k: scores[name][default][k] for k in ("ndcg@10", "map", "recall@100")}
                               for name in scores},
            "default_worst_margin": round(min(by_setting[default].values()), 4)}


def markdown(result: dict) -> str:
    header = ("| collection | chosen on the others | Kindred nDCG@10 | " + " | ".join(PEERS)
              + " | margin over the best peer |")
    lines = [header, "|" + "---|" * (len(PEERS) + 4)]
    for row in result["leave_one_out"]:
        peers = " | ".join(f"{row['peers'][p]:.4f}" for p in PEERS)
        lines.append(f"| {row['collection']} | {row['label']} | **{row['ndcg@10']:.4f}** | {peers} | "
                     f"{row['margin']:+.4f} |")
    return "\n".join([*lines, "", defaults_line(result, "collection")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("tantivy", "whoosh"), default="tantivy",
                        help="the engine scored (tantivy: several times faster than Whoosh; both rank alike)")
    parser.add_argument("--collections", nargs="+", choices=COLLECTIONS, default=list(COLLECTIONS))
    parser.add_argument("--titles", nargs="+", type=int, default=list(TITLES), help="title weights tried (one index each)")
    parser.add_argument("--json", type=Path, default=RESULTS / "tune.json")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    started = time.perf_counter()
    scores, peers = {}, {}
    for name in args.collections:
        t = time.perf_counter()
        collection = load(name)
        peers[name] = peer_scores(collection)
        scores[name] = score_collection(collection, args.engine, build_grid(args.titles))
        print(f"  {name:18} {len(scores[name])} settings in {time.perf_counter() - t:.0f}s", flush=True)
    result = protocol(scores, peers)
    write_json(args.json, {"engine": args.engine, "grid": {"build": build_grid(args.titles), "query": QUERY_GRID},
                           "scores": scores, "peers": peers, **result,
                           "wall_s": round(time.perf_counter() - started, 1)})
    print(markdown(result))


if __name__ == "__main__":
    main()
