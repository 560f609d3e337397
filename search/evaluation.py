"""Retrieval metrics with trec_eval's definitions, for `kindred eval` and the benchmarks.

- nDCG@k: linear gains (the judged relevance value), log2(rank + 1) discount, the ideal
  ranking built from all judged documents of the query (trec_eval's ndcg_cut).
- MAP: precision at each relevant document retrieved, summed, over all relevant documents.
- recall@k: relevant documents in the top k over all relevant documents.
Queries without any relevant judgment are left out, as trec_eval does.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Mapping, Sequence

Qrels = dict[str, dict[str, float]]  # query id -> doc id -> relevance


def load_qrels(path: Path) -> Qrels:
    """TSV `query_id doc_id relevance` (also TREC's 4-column `qid 0 docid rel`)."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as fh:
        for number, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) == 1:
                row = row[0].split()
            if len(row) == 4:
                row = [row[0], row[2], row[3]]
            if len(row) != 3:
                raise ValueError(f"{path}:{number}: expected query_id, doc_id, relevance")
            try:
                relevance = float(row[2])
            except ValueError:
                raise ValueError(f"{path}:{number}: relevance {row[2]!r} is not a number") from None
            qrels.setdefault(row[0], {})[row[1]] = relevance
    return qrels


def load_queries(path: Path) -> dict[str, str]:
    """JSON Lines with `id` and `text` (or `query`)."""
    queries = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            text = record.get("text", record.get("query"))
            if "id" not in record or text is None:
                raise ValueError(f"{path}:{number}: each query needs 'id' and 'text'")
            queries[str(record["id"])] = str(text)
    return queries


def ndcg(ranking: Sequence[str], judged: Mapping[str, float], k: int = 10) -> float:
    dcg = sum(judged.get(doc, 0.0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sorted((r for r in judged.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(rank + 2) for rank, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def average_precision(ranking: Sequence[str], judged: Mapping[str, float]) -> float:
    relevant = {doc for doc, r in judged.items() if r > 0}
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for rank, doc in enumerate(ranking, start=1):
        if doc in relevant:
            hits += 1
            total += hits / rank
    return total / len(relevant)


def recall(ranking: Sequence[str], judged: Mapping[str, float], k: int = 100) -> float:
    relevant = {doc for doc, r in judged.items() if r > 0}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def evaluate(rankings: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """Mean metrics over the judged queries (a judged query with no ranking scores 0)."""
    judged = [q for q, docs in qrels.items() if any(r > 0 for r in docs.values())]
    if not judged:
        raise ValueError("no query has a relevant judgment")
    n = len(judged)
    return {
        "ndcg@10": round(sum(ndcg(rankings.get(q, []), qrels[q]) for q in judged) / n, 4),
        "map": round(sum(average_precision(rankings.get(q, []), qrels[q]) for q in judged) / n, 4),
        "recall@100": round(sum(recall(rankings.get(q, []), qrels[q]) for q in judged) / n, 4),
        "queries": n,
    }
