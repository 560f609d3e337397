"""Shared corpora for benchmarks: read from ../shared/corpora beside the checkout, never copied."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from pathlib import Path
from typing import Iterator

CORPORA = Path(os.environ.get("KINDRED_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "corpora"))
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


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


def synthetic(n: int, seed: int = 18) -> Iterator[dict]:
    """n articles for scaling runs: the articles of `mixed` once as they are, then again and
    again perturbed, so no two are the same text: each repeat keeps about three sentences in
    four of its original, in order, and takes two sentences of other articles at random
    places (a repeat is a neighbour of its original, rarely a near-copy)."""
    pool = read("wikipedia-2015") + read("medquad") + read("bbc") + read("psychoactive-substances")
    for i in range(n):
        doc = pool[i % len(pool)]
        round_ = i // len(pool)
        title, body = doc.get("title") or "untitled", doc.get("body", "")
        if round_:
            rng = random.Random(seed * 1_000_003 + i)
            sentences = [s for s in _SENTENCE_END.split(body) if rng.random() < 0.75]
            for _ in range(2):
                other = _SENTENCE_END.split(pool[rng.randrange(len(pool))].get("body", ""))
                sentences.insert(rng.randint(0, len(sentences)), rng.choice(other))
            title, body = f"{title} ({round_})", " ".join(sentences)
        yield {"id": f"{doc['id']}#{round_}" if round_ else str(doc["id"]), "title": title, "body": body,
               "category": doc.get("category", "")}
