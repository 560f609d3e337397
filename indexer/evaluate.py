"""`kindred eval`: build an index from judged documents and score the shipped search on them."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

from indexer.build import Indexer
from search.config import Settings
from search.evaluation import evaluate, load_qrels, load_queries
from search.service import SearchService

SPLITS = ("all", "tune", "heldout")


def in_split(query_id: str, split: str) -> bool:
    """A fixed half of the queries for tuning, the other half held out (by hash, not order)."""
    if split == "all":
        return True
    tune = int(hashlib.sha1(query_id.encode()).hexdigest(), 16) % 2 == 0
    return tune if split == "tune" else not tune


def run_eval(settings: Settings, queries_path: Path, qrels_path: Path, docs: Path | None = None,
             split: str = "all", depth: int = 1000, operators: bool = False) -> dict[str, object]:
    queries = {q: text for q, text in load_queries(queries_path).items() if in_split(q, split)}
    qrels = {q: judged for q, judged in load_qrels(qrels_path).items() if q in queries}
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="kindred-eval-") as tmp:
        if docs is not None:
            settings = settings.replace(index_dir=Path(tmp) / "index", search_cache_size=0)
            started = time.perf_counter()
            build = Indexer(settings).build([docs])
            report["indexed"] = build.indexed
            report["build_s"] = round(time.perf_counter() - started, 2)
        service = SearchService(settings)
        try:
            started = time.perf_counter()
            rankings = {q: service.rank(text, depth, operators) for q, text in queries.items()}
            elapsed = time.perf_counter() - started
            engine = service.health()["engine"]
        finally:
            service.close()
    return {**evaluate(rankings, qrels), "split": split, "engine": engine,
            "mean_query_ms": round(elapsed * 1000 / max(len(queries), 1), 2), **report}
