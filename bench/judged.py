"""The judged collections search quality is measured on, and the peer systems' scores on them.

Six shared test collections (../shared/corpora: adi, cacm, cisi, cranfield, lisa, time) and
the MedQuAD questions of `make bench` (real consumer health questions against 16,407 answer
passages; bench/engines.py `medquad_passages`). Each is a `Judged`: its documents as a JSON
Lines file Kindred can index, its queries and its relevance judgments.

Peers are the systems of bench/engines.py (raw Whoosh, raw tantivy, SQLite FTS5, bm25s), each
set up as its documentation suggests, ranked 1,000 deep and scored with the same metrics as
`kindred eval`. Their results are cached under bench/results/cache/ (keyed by the collection's
content, the peer code and the library versions), so a tuning run builds each peer index once.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.common import RESULTS, prose, remove, sample, write_json
from bench.corpora import CORPORA
from search.evaluation import Qrels, evaluate, load_qrels, load_queries

SHARED = ("adi", "cacm", "cisi", "cranfield", "lisa", "time")
MEDQUAD_QUESTIONS = "medquad-questions"
COLLECTIONS = (*SHARED, MEDQUAD_QUESTIONS)
# As many MedQuAD questions as bench/engines.py scores (the same sample).
MEDQUAD_SAMPLE = 200
PEERS = ("whoosh", "tantivy", "sqlite-fts5", "bm25s")
DEPTH = 1000
CACHE = RESULTS / "cache"


@dataclass(frozen=True)
class Judged:
    name: str
    docs: Path  # JSON Lines, any format `kindred index` reads
    queries: dict[str, str]
    qrels: Qrels

    @property
    def queries_file(self) -> Path:
        return self.docs.parent / "queries.jsonl"


def load(name: str) -> Judged:
    """A judged collection; the MedQuAD passages are written once under bench/results/cache/."""
    if name == MEDQUAD_QUESTIONS:
        return _medquad_questions()
    folder = CORPORA / name
    return Judged(name, folder / "docs.jsonl", load_queries(folder / "queries.jsonl"), load_qrels(folder / "qrels.tsv"))


def _medquad_questions() -> Judged:
    from bench.engines import FULL, medquad_passages

    folder = CACHE / MEDQUAD_QUESTIONS
    docs, queries, qrels = folder / "docs.jsonl", folder / "queries.jsonl", folder / "qrels.tsv"
    if not qrels.exists():
        passages, questions = medquad_passages()
        chosen = sample(questions, FULL["long_medquad"])
        folder.mkdir(parents=True, exist_ok=True)
        with docs.open("w", encoding="utf-8") as fh:
            for passage in passages:
                fh.write(json.dumps(passage, ensure_ascii=False) + "\n")
        with queries.open("w", encoding="utf-8") as fh:
            for number, (question, _) in enumerate(chosen, start=1):
                fh.write(json.dumps({"id": f"q{number}", "text": prose(question)}, ensure_ascii=False) + "\n")
        with qrels.open("w", encoding="utf-8") as fh:
            for number, (_, relevant) in enumerate(chosen, start=1):
                fh.writelines(f"q{number}\t{doc}\t1\n" for doc in relevant)
    return Judged(MEDQUAD_QUESTIONS, docs, load_queries(queries), load_qrels(qrels))


def _documents(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [{"id": str(d["id"]), "title": d.get("title") or "", "body": d.get("body") or ""} for d in rows]


def _peer_key(collection: Judged) -> str:
    from bench import engines

    digest = hashlib.sha1()
    digest.update(collection.docs.read_bytes())
    digest.update(json.dumps([collection.queries, collection.qrels], sort_keys=True).encode())
    for system in PEERS:
        digest.update(inspect.getsource(engines.RAW[system]).encode())
    for library in ("whoosh3", "tantivy", "bm25s", "PyStemmer"):
        digest.update(metadata.version(library).encode())
    digest.update(str(DEPTH).encode())
    return digest.hexdigest()[:16]


def peer_rankings(collection: Judged) -> dict[str, dict[str, list[str]]]:
    """Each peer's ranking (DEPTH deep) of every judged query: {peer: {query id: doc ids}}."""
    from bench import engines

    path = CACHE / "peers" / f"{collection.name}-{_peer_key(collection)}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    docs = _documents(collection.docs)
    rankings: dict[str, dict[str, list[str]]] = {}
    for system in PEERS:
        tmp = Path(tempfile.mkdtemp(prefix=f"kindred-peer-{system}-"))
        try:
            run, _ = engines.RAW[system](docs, tmp, depth=DEPTH)
            rankings[system] = {q: run(text) for q, text in collection.queries.items() if q in collection.qrels}
        finally:
            remove(tmp)
    write_json(path, rankings)
    return rankings


def peer_scores(collection: Judged) -> dict[str, dict[str, float]]:
    """nDCG@10, MAP and recall@100 of each peer, as `kindred eval` computes them."""
    return {system: evaluate(ranking, collection.qrels) for system, ranking in peer_rankings(collection).items()}
