"""Related-articles defaults chosen so they generalize: leave-one-corpus-out, beside plain TF-IDF.

    python bench/related_tune.py [--json PATH]

The labelled shared corpora: bbc (its category), psychoactive-substances (its class; 557 of
871 articles have one) and medquad (its source site). wikipedia-2015 has no label and takes
no part. Every setting of the grid below is scored as `kindred eval-related` scores it
(precision@5 with the label held out from the model, all articles; indexer/evaluate.py), and
so is plain TF-IDF cosine: scikit-learn's TfidfVectorizer(sublinear_tf=True,
stop_words="english", min_df=2) over title and body, the 5 most similar articles.

- Leave one corpus out: for each corpus, the setting with the largest worst margin over
  TF-IDF on the other corpora is chosen, then reported on the one left out.
- The defaults: the setting with the largest worst margin over every corpus.
- Worst margins within TIE (0.001) of the largest count as tied, and ties go to the larger
  next-worst margin (leximin): precision@5 here is over every article of a corpus, and the
  corpus with the smallest margin (BBC) moves by 0.0006 (7 of its 11,125 list entries)
  across the settings that lead, which is no ground for choosing between them.

Each corpus is read and analyzed once (with the search defaults' field weights: related
articles and search share the analyzed terms); each setting fits the model once.
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
import time
from typing import Mapping, Sequence

from bench.common import RESULTS, write_json
from bench.corpora import CORPORA
from bench.tune import defaults_line, leave_one_out

LABELLED = ("bbc", "psychoactive-substances", "medquad")
K = 5
METRIC = f"precision@{K}"
# Worst margins this close count as tied (see the module docstring).
TIE = 0.001
GRID = [{"related_tf_saturation": saturation, "related_topics": topics, "related_topic_weight": weight}
        for saturation, topics, weight in itertools.product((0.01, 0.0125, 0.015, 0.0175), (12,),
                                                            (0.15, 0.2, 0.3, 0.4))]


def label(setting: Mapping[str, object]) -> str:
    return (f"saturation {setting['related_tf_saturation']}, {setting['related_topics']} topics, "
            f"topic weight {setting['related_topic_weight']}")


def tfidf_lists(articles: Sequence, k: int = K) -> dict[str, list]:
    """Plain TF-IDF cosine: each article's k most similar others, best first."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from search.related_lists import RelatedEntry

    matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit_transform(
        [f"{a.title}\n{a.body}" for a in articles])
    lists = {}
    for start in range(0, len(articles), 1000):
        block = (matrix[start:start + 1000] @ matrix.T).toarray()
        for offset, row in enumerate(block):
            row[start + offset] = -1.0  # never itself
            best = np.argsort(-row, kind="stable")[:k]
            lists[articles[start + offset].id] = [RelatedEntry(articles[j].id, float(row[j]), "similar") for j in best]
    return lists


def score_corpus(name: str) -> dict:
    """TF-IDF's and every grid setting's figures on one corpus."""
    from indexer.related_build import related_lists
    from indexer.evaluate import evaluation_settings, read_labelled, score_related
    from search.document import IndexDoc

    base = evaluation_settings(None, {}, environ={})
    articles, labelled = read_labelled(CORPORA / name / "docs.jsonl")
    ids = [a.id for a in articles]
    docs = [IndexDoc.from_article(a, base.field_weights) for a in articles]
    rows = []
    for setting in GRID:
        lists, _ = related_lists(base.replace(**setting), articles, docs)
        rows.append({"setting": setting, **score_related(lists, ids, labelled, K)})
    return {"tfidf": score_related(tfidf_lists(articles), ids, labelled, K), "grid": rows}


def protocol(results: Mapping[str, dict]) -> dict:
    names = list(results)
    margins = [{n: results[n]["grid"][i][METRIC] - results[n]["tfidf"][METRIC] for n in names}
               for i in range(len(GRID))]
    folds, default = leave_one_out(margins, tie=TIE)
    rows = [{"corpus": name, "setting": GRID[chosen], "label": label(GRID[chosen]),
             METRIC: results[name]["grid"][chosen][METRIC], "tfidf": results[name]["tfidf"][METRIC],
             "margin": round(margins[chosen][name], 4)} for name, chosen in folds.items()]
    return {"leave_one_out": rows, "default": GRID[default], "default_label": label(GRID[default]),
            "default_scores": {n: results[n]["grid"][default][METRIC] for n in names},
            "default_worst_margin": round(min(margins[default].values()), 4)}


def markdown(result: dict, results: Mapping[str, dict]) -> str:
    lines = [f"| corpus | chosen on the others | Kindred {METRIC} | plain TF-IDF | margin |", "|---|---|---|---|---|"]
    lines += [f"| {row['corpus']} | {row['label']} | **{row[METRIC]:.4f}** | {row['tfidf']:.4f} | {row['margin']:+.4f} |"
              for row in result["leave_one_out"]]
    return "\n".join([*lines, "", defaults_line(result, "corpus"), "", grid_table(results)])


def grid_table(results: Mapping[str, dict]) -> str:
    """Every setting's precision@5 on every corpus, and its worst margin over TF-IDF."""
    names = list(results)
    tfidf = {n: results[n]["tfidf"][METRIC] for n in names}

    def cells(scores: Mapping[str, float]) -> str:
        return " | ".join(f"{scores[n]:.4f}" for n in names)

    lines = [f"| saturation | topic weight | {' | '.join(names)} | worst margin |",
             "|---:|---:|" + "---:|" * (len(names) + 1), f"| plain TF-IDF | | {cells(tfidf)} | |"]
    for i, setting in enumerate(GRID):
        scores = {n: results[n]["grid"][i][METRIC] for n in names}
        worst = min(scores[n] - tfidf[n] for n in names)
        lines.append(f"| {setting['related_tf_saturation']} | {setting['related_topic_weight']} | {cells(scores)} "
                     f"| {worst:+.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", choices=LABELLED, default=list(LABELLED))
    parser.add_argument("--json", type=Path, default=RESULTS / "related_tune.json")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    started = time.perf_counter()
    results = {}
    for name in args.corpora:
        t = time.perf_counter()
        results[name] = score_corpus(name)
        print(f"  {name:24} TF-IDF {results[name]['tfidf'][METRIC]:.4f}, {len(GRID)} settings in "
              f"{time.perf_counter() - t:.0f}s", flush=True)
    result = protocol(results)
    write_json(args.json, {"grid": GRID, "results": results, **result,
                           "wall_s": round(time.perf_counter() - started, 1)})
    print(markdown(result, results))


if __name__ == "__main__":
    main()
