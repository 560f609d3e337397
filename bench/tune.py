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
  the larger next-worst margin, and so on), not the best mean: a default must not buy one
  collection's gain with another's loss.
- Both choices are made among the settings that keep every collection they are chosen on
  at its nDCG@10 of bench/relevance_baseline.json (less its tolerance), where one does.

Frugal with the CPU: each collection's index is built once per engine and build-time
setting (the field weights), and the query-time settings (proximity, rare-word emphasis, feedback) are varied
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
import json
import logging
import tempfile
import time
from typing import Iterable, Mapping

from bench.common import RESULTS, remove, write_json
from bench.judged import COLLECTIONS, DEPTH, PEERS, Judged, load, peer_scores
from bench.relevance import BASELINE

# Build-time settings: each value needs its own index. The title weight (3-6) was chosen by an
# earlier run of this protocol over the same collections (docs/search.md); `--titles` widens the build grid.
TITLES = (5,)
# Query-time settings, varied over the same open index: proximity, rare-word emphasis and the
# feedback (how many top documents, how much the added words weigh, how much more the best
# documents count than the others); feedback words stay 10.
PROXIMITY = (0.15, 0.2)
RARE_WORD_EMPHASIS = (0.15, 0.25)
FEEDBACK_DOCS = (10, 20)
FEEDBACK_WORDS = (0.5, 1.0, 1.5, 2.0)
FEEDBACK_FOCUS = (1.0, 3.0, 6.0, 10.0)
QUERY_GRID = [{"search_proximity_weight": p, "search_rare_word_emphasis": e, "search_feedback_docs": d,
               "search_feedback_terms": 10, "search_feedback_words": w, "search_feedback_focus": f}
              for p, e, d, w, f in itertools.product(PROXIMITY, RARE_WORD_EMPHASIS, FEEDBACK_DOCS, FEEDBACK_WORDS,
                                                     FEEDBACK_FOCUS)]
METRIC = "ndcg@10"


def build_grid(titles: Iterable[int]) -> list[dict]:
    return [{"field_weights": {"title": title, "labels": 2, "summary": 1, "body": 1}} for title in titles]


def label(setting: Mapping[str, object]) -> str:
    """A setting in a few words: 'title 5, proximity 0.1, rare words 0.15, feedback 10 docs focus 6 1.5 words'."""
    feedback = ("feedback off" if not setting["search_feedback_docs"] else
                f"feedback {setting['search_feedback_docs']} docs focus {setting['search_feedback_focus']:g} "
                f"{setting['search_feedback_words']:g} words")
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


def within_baseline(scores: Mapping[str, list[dict]], baseline: Mapping[str, float], tolerance: float
                    ) -> list[dict[str, bool]]:
    """For each grid setting, whether each collection keeps its baseline nDCG@10 (less the
    tolerance); a collection without a baseline always does."""
    names = list(scores)
    return [{name: name not in baseline or scores[name][i][METRIC] >= baseline[name] - tolerance for name in names}
            for i in range(len(scores[names[0]]))]


def choose(by_setting: list[dict[str, float]], collections: Iterable[str],
           kept: list[dict[str, bool]] | None = None, tie: float = 0.0) -> int:
    """The setting with the largest worst margin over `collections`, among those that keep
    every one of them at its baseline (`kept`; all, if none does). Worst margins within
    `tie` of the largest are tied (a difference the metric cannot tell from noise); ties
    go to the larger next-worst margin, and so on (leximin: maximin refined)."""
    chosen = list(collections)
    candidates = [i for i in range(len(by_setting)) if kept is None or all(kept[i][c] for c in chosen)] \
        or list(range(len(by_setting)))
    worst = {i: round(min(by_setting[i][c] for c in chosen), 4) for i in candidates}
    best = max(worst.values())
    return max((i for i in candidates if worst[i] >= best - tie),
               key=lambda i: sorted(round(by_setting[i][c], 4) for c in chosen)[1:])


def leave_one_out(by_setting: list[dict[str, float]], kept: list[dict[str, bool]] | None = None,
                  tie: float = 0.0) -> tuple[dict[str, int], int]:
    """For each collection, the setting chosen on the others; and the setting chosen on all."""
    names = list(by_setting[0])
    return ({name: choose(by_setting, [c for c in names if c != name], kept, tie) for name in names},
            choose(by_setting, names, kept, tie))


def defaults_line(result: dict, collections: str) -> str:
    return (f"Defaults chosen on every {collections}: {result['default_label']} "
            f"(worst margin {result['default_worst_margin']:+.4f}).")


def protocol(scores: Mapping[str, list[dict]], peers: Mapping[str, Mapping[str, dict]],
             baseline: Mapping[str, float], tolerance: float) -> dict:
    """Leave-one-collection-out rows and the defaults chosen on every collection."""
    best_peer = {name: max(p[METRIC] for p in peers[name].values()) for name in scores}
    by_setting = margins(scores, best_peer)
    folds, default = leave_one_out(by_setting, within_baseline(scores, baseline, tolerance))
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
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    result = protocol(scores, peers, {name: engines[args.engine] for name, engines in baseline["ndcg@10"].items()},
                      baseline["tolerance"])
    write_json(args.json, {"engine": args.engine, "grid": {"build": build_grid(args.titles), "query": QUERY_GRID},
                           "scores": scores, "peers": peers, **result,
                           "wall_s": round(time.perf_counter() - started, 1)})
    print(markdown(result))


if __name__ == "__main__":
    main()
