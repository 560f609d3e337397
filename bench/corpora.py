"""Shared corpora for benchmarks: read from ../shared/corpora beside the checkout, never copied."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Iterator

CORPORA = Path(os.environ.get("KINDRED_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "corpora"))


def read(name: str) -> list[dict]:
    folder = CORPORA / name
    path = folder / "docs.jsonl"
    opener = open
    if not path.exists():
        path = folder / "docs.jsonl.gz"
        opener = gzip.open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def mixed(n: int) -> Iterator[dict]:
    """n articles from wikipedia-2015, medquad, bbc and psychoactive-substances, repeated with
    new ids when n exceeds what they hold (about 36,600 distinct articles)."""
    pool = read("wikipedia-2015") + read("medquad") + read("bbc") + read("psychoactive-substances")
    for i in range(n):
        doc = pool[i % len(pool)]
        round_ = i // len(pool)
        yield {"id": f"{doc['id']}#{round_}" if round_ else str(doc["id"]), "title": doc.get("title") or "untitled",
               "body": doc.get("body", ""), "category": doc.get("category", "")}
