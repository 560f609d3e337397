"""In-process search engines on the same corpora and queries: Kindred (Whoosh, tantivy)
against raw Whoosh, raw tantivy, SQLite FTS5 and bm25s.

    python bench/engines.py [--quick] [--corpora ...] [--systems ...] [--json PATH]

Each system runs in its own process per corpus (`--worker`), so its peak memory (max RSS)
is its own. Per system and query set: p50/p99 latency of one thread on a warm index, QPS,
build docs/s, index size on disk and peak memory. Kindred is measured through
search.service.SearchService on both paths: the reader's `search()` (planning, spelling,
pseudo-relevance feedback, store reads, highlighting; facets off) and `rank()` (the ranking
alone, as `kindred eval` uses it). Ratios are printed at the end, measured in the same run.

Corpora: bbc, psychoactive-substances, wikipedia-2015 (28k), and medquad-passages: every
MedQuAD article body split into its question/answer paragraphs (one passage per answer,
titled with the article's focus); the real questions are its long queries and the passages
answering them (the same question text) are the relevant ones, which gives nDCG@10.
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
import tempfile
import time
from typing import Callable

from bench.common import (  # noqa: E402
    PYTHON, REPO, RESULTS, current_rss_mib, dir_bytes, latency_stats, long_queries_from_docs, max_rss_mib,
    plain_words, profile_text, prose, remove, run_json, sample, short_queries, write_json,
)

CORPORA = ("bbc", "psychoactive-substances", "wikipedia-2015", "medquad-passages")
SYSTEMS = ("kindred-whoosh", "kindred-tantivy", "whoosh", "tantivy", "sqlite-fts5", "bm25s")
KINDRED_SYSTEMS = ("kindred-whoosh", "kindred-tantivy")
# (short, long) query counts, and how many of each set run once untimed first.
# A timed pass stops early once it has spent `budget_s` (slow systems measure fewer queries;
# the count measured is reported with every figure).
FULL = {"short": 300, "long": 200, "long_medquad": 200, "warm": 10, "profile": 20, "budget_s": 20.0,
        "limit_docs": None}
QUICK = {"short": 40, "long": 20, "long_medquad": 20, "warm": 3, "profile": 5, "budget_s": 4.0, "limit_docs": 800}
# Kindred-whoosh variants scored on the judged long questions: what the question pruning and
# the pseudo-relevance feedback cost and buy.
VARIANTS = {
    "default": {},
    "no feedback": {"search_feedback_docs": 0},
    "every term, no feedback": {"search_max_terms": 1_000_000, "search_feedback_docs": 0},
}
BUILD_PROFILE_CORPUS = "wikipedia-2015"
# Kindred's steps, timed (cumulatively) in the query profiles: (file suffix, function).
STEPS = {
    "total": [("search/service.py", "search"), ("search/service.py", "rank")],
    "planning": [("search/planner.py", "plan")],
    "spelling": [("search/spelling.py", "correct")],
    "feedback": [("search/service.py", "article_term_counts"), ("search/feedback.py", "expansion"),
                 ("search/engines/whoosh.py", "rescore"), ("search/engines/tantivy.py", "rescore")],
    "engine search": [("search/engines/whoosh.py", "search"), ("search/engines/tantivy.py", "search")],
    "hits (store + snippets)": [("search/service.py", "_hits")],
    "snippets + highlight": [("search/highlight.py", "snippet"), ("search/highlight.py", "highlight")],
}


# Corpora and queries ----------------------------------------------------------------------

def medquad_passages() -> tuple[list[dict], list[tuple[str, list[str]]]]:
    """Passages (one per answer) and (question, ids of the passages answering it)."""
    from bench.corpora import read

    passages: list[dict] = []
    by_question: dict[str, list[str]] = {}
    for doc in read("medquad"):
        for number, paragraph in enumerate(p.strip() for p in doc["body"].split("\n\n")):
            question, _, answer = paragraph.partition("\n")
            if not answer.strip() or not question.strip():
                continue
            pid = f"{doc['id']}#{number}"
            passages.append({"id": pid, "title": doc["title"], "body": answer.strip(),
                             "category": doc.get("category", ""), "url": f"{doc.get('url', '')}#{number}"})
            by_question.setdefault(" ".join(question.split()).lower(), []).append(pid)
    questions = []
    seen = set()
    for doc in read("medquad"):
        for paragraph in doc["body"].split("\n\n"):
            question, _, answer = paragraph.strip().partition("\n")
            key = " ".join(question.split()).lower()
            if answer.strip() and key and key not in seen:
                seen.add(key)
                questions.append((" ".join(question.split()), by_question[key]))
    return passages, questions


def prepare(corpus: str, workdir: Path, limits: dict) -> dict:
    """Write the corpus (JSON Lines) and its query sets into workdir; returns a description."""
    from bench.corpora import read

    workdir.mkdir(parents=True, exist_ok=True)
    judged = None
    if corpus == "medquad-passages":
        docs, questions = medquad_passages()
    else:
        docs = read(corpus)
    if limits["limit_docs"]:
        docs = docs[: limits["limit_docs"]]
    docs = [{"id": str(d["id"]), "title": d.get("title") or "untitled", "body": d.get("body", ""),
             "category": d.get("category", "") or "", "url": d.get("url", "") or ""} for d in docs]
    short = short_queries([d["title"] for d in docs], limits["short"])
    if corpus == "medquad-passages":
        present = {d["id"] for d in docs}
        usable = [(q, [i for i in ids if i in present]) for q, ids in questions]
        usable = [(q, ids) for q, ids in usable if ids]
        chosen = sample(usable, limits["long_medquad"])
        long = [prose(q) for q, _ in chosen]
        judged = [ids for _, ids in chosen]
        long_kind = "real MedQuAD questions (prose: quotes and operators removed)"
    else:
        long = long_queries_from_docs(docs, limits["long"])
        long_kind = "first sentences of random documents, up to 30 words"
    with (workdir / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    queries = {"short": short, "long": long, "judged_long": judged}
    (workdir / "queries.json").write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    words = [len(plain_words(q)) for q in long]
    return {
        "corpus": corpus, "docs": len(docs), "short_queries": len(short), "long_queries": len(long),
        "long_kind": long_kind, "long_words_mean": round(sum(words) / max(len(words), 1), 1),
        "short_examples": short[:5], "long_examples": long[:3],
        "body_chars_mean": round(sum(len(d["body"]) for d in docs) / max(len(docs), 1)),
    }


# Measuring --------------------------------------------------------------------------------

def measure(run: Callable[[str], list[str]], queries: list[str], limits: dict,
            count: int | None = None) -> tuple[dict, list[list[str]]]:
    """Warm up on the first queries, then time each query in order: all of them, or `count`,
    or as many as fit in the time budget (at least 20)."""
    for q in queries[: limits["warm"]]:
        run(q)
    times: list[float] = []
    cpu: list[float] = []
    results: list[list[str]] = []
    clock, cpu_clock = time.perf_counter, time.thread_time
    started = clock()
    deadline = started + limits["budget_s"]
    for q in queries[:count] if count else queries:
        t, c = clock(), cpu_clock()
        ids = run(q)
        times.append(clock() - t)
        cpu.append(cpu_clock() - c)
        results.append(ids)
        if count is None and len(times) >= 20 and clock() > deadline:
            break
    wall = clock() - started
    stats = latency_stats(times, wall)
    # The thread's CPU time per query: less sensitive than wall time to other load on the machine.
    stats["p50_cpu_ms"] = latency_stats(cpu, wall)["p50_ms"]
    stats["of"] = len(queries)
    return stats, results


def ndcg10(results: list[list[str]], judged: list[list[str]]) -> list[float]:
    """nDCG@10 of each measured query (binary: the passages answering the question)."""
    from search.evaluation import ndcg

    return [round(ndcg(ids, {doc: 1.0 for doc in relevant}, 10), 4) for ids, relevant in zip(results, judged)]


def judge(stats: dict, results: list[list[str]], judged: list[list[str]] | None) -> None:
    if judged:
        per_query = ndcg10(results, judged)
        stats["ndcg@10"] = round(sum(per_query) / len(per_query), 4)
        stats["ndcg_per_query"] = per_query


# Systems ----------------------------------------------------------------------------------

def load_docs(workdir: Path) -> list[dict]:
    with (workdir / "corpus.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def kindred_worker(engine: str, workdir: Path, tmp: Path, queries: dict, limits: dict, corpus: str) -> dict:
    from indexer.build import Indexer
    from search.config import load_settings
    from search.results import SearchRequest
    from search.service import SearchService

    base_rss = current_rss_mib()

    def settings_for(**extra):
        overrides = dict(index_dir=str(tmp / "index"), engine=engine, search_cache_size=0,
                         synonyms=str(REPO / "data" / "synonyms.txt"), rules=str(REPO / "data" / "rules.toml"))
        overrides.update(extra)
        return load_settings(overrides=overrides, environ={}, look_in_cwd=False)

    settings = settings_for()
    started = time.perf_counter()
    report = Indexer(settings).build([workdir / "corpus.jsonl"])
    build_s = time.perf_counter() - started
    timings = {k: round(v, 3) for k, v in report.timings.items() if k.endswith("_s")}
    index_dir = tmp / "index"
    version = next(p for p in (index_dir / "versions").iterdir() if not p.name.startswith("."))
    out: dict = {
        "docs": report.indexed, "build_s": round(build_s, 2), "build_docs_per_s": round(report.indexed / build_s, 1),
        "timings": timings, "index_bytes": dir_bytes(index_dir), "engine_bytes": dir_bytes(version / "engine"),
        "base_rss_mib": base_rss, "rss_after_build_mib": max_rss_mib(),
    }
    engine_s = timings.get("engine_s")
    if engine_s:
        out["engine_docs_per_s"] = round(report.indexed / engine_s, 1)

    service = SearchService(settings)
    search = lambda q: [h.id for h in service.search(SearchRequest(q=q, facets=False)).hits]  # noqa: E731
    rank = lambda q: service.rank(q, limit=10)  # noqa: E731
    sets: dict = {}
    for name in ("short", "long"):
        qs = queries[name]
        sets[name] = {}
        for path, run in (("search", search), ("rank", rank)):
            stats, results = measure(run, qs, limits)
            if name == "long":
                judge(stats, results, queries.get("judged_long"))
            stats["mean_hits"] = round(sum(map(len, results)) / max(len(results), 1), 2)
            sets[name][path] = stats
    out["sets"] = sets
    # Where the time of each path goes: cProfile over the first queries of each set, each
    # profile on a freshly opened index so what it caches per index state starts empty again.
    out["profiles"] = {name: {} for name in ("short", "long")}
    for name in ("short", "long"):
        qs = queries[name][: limits["profile"]]
        service.close()
        service = SearchService(settings)
        out["profiles"][name]["search"] = profile_text(lambda: [search(q) for q in qs], steps=STEPS)
        service.close()
        service = SearchService(settings)
        out["profiles"][name]["rank"] = profile_text(lambda: [rank(q) for q in qs], steps=STEPS)
    service.close()

    if engine == "whoosh" and queries.get("judged_long"):
        # Every variant scores the same questions: as many as the default search path measured.
        count = sets["long"]["search"]["n"]
        variants = {}
        for label, extra in VARIANTS.items():
            variant = SearchService(settings_for(**extra))
            run = lambda q, s=variant: [h.id for h in s.search(SearchRequest(q=q, facets=False)).hits]  # noqa: E731
            stats, results = measure(run, queries["long"], limits, count)
            judge(stats, results, queries["judged_long"])
            variants[label] = {"settings": extra, **stats}
            variant.close()
        out["variants"] = variants

    if engine == "tantivy" and corpus == BUILD_PROFILE_CORPUS:
        out["engine_add"] = engine_add_profile(engine, workdir, tmp)
    out["peak_rss_mib"] = max_rss_mib()
    return out


def engine_add_profile(engine: str, workdir: Path, tmp: Path) -> dict:
    """Engine.add alone on pre-analyzed documents (timed), then a cProfile of it on a slice."""
    from search.article import Article
    from search.document import IndexDoc
    from search.engines import create_engine

    articles = [Article.from_mapping(d) for d in load_docs(workdir)]
    started = time.perf_counter()
    docs = [IndexDoc.from_article(a) for a in articles]
    analyze_s = time.perf_counter() - started
    del articles
    started = time.perf_counter()
    target = create_engine(engine, tmp / "engine-add")
    target.add(docs)
    target.close()
    add_s = time.perf_counter() - started
    remove(tmp / "engine-add")
    part = docs[:5000]

    def profiled():
        again = create_engine(engine, tmp / "engine-profile")
        again.add(part)
        again.close()

    text = profile_text(profiled)
    remove(tmp / "engine-profile")
    return {"docs": len(docs), "analyze_s": round(analyze_s, 2), "add_s": round(add_s, 2),
            "docs_per_s": round(len(docs) / add_s, 1), "profile_docs": len(part), "profile": text}


def raw_whoosh(docs: list[dict], tmp: Path, depth: int = 10):
    from whoosh import index
    from whoosh.analysis import StemmingAnalyzer
    from whoosh.fields import ID, TEXT, Schema
    from whoosh.qparser import MultifieldParser, OrGroup

    schema = Schema(id=ID(stored=True), title=TEXT(analyzer=StemmingAnalyzer()),
                    body=TEXT(analyzer=StemmingAnalyzer()))
    path = tmp / "whoosh"
    path.mkdir()
    ix = index.create_in(str(path), schema)
    writer = ix.writer(limitmb=256)
    for d in docs:
        writer.add_document(id=d["id"], title=d["title"], body=d["body"])
    writer.commit()
    searcher = ix.searcher()  # default weighting: BM25F
    parser = MultifieldParser(["title", "body"], schema, group=OrGroup)

    def run(q: str) -> list[str]:
        words = plain_words(q)
        if not words:
            return []
        return [hit["id"] for hit in searcher.search(parser.parse(" ".join(words)), limit=depth)]

    return run, path


def raw_tantivy(docs: list[dict], tmp: Path, depth: int = 10):
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", tokenizer_name="en_stem")
    builder.add_text_field("body", tokenizer_name="en_stem")
    path = tmp / "tantivy"
    path.mkdir()
    ix = tantivy.Index(builder.build(), path=str(path))
    writer = ix.writer(256_000_000, 2)  # the heap and threads Kindred's bulk build uses
    for d in docs:
        writer.add_document(tantivy.Document(id=d["id"], title=d["title"], body=d["body"]))
    writer.commit()
    writer.wait_merging_threads()
    ix.reload()
    searcher = ix.searcher()

    def run(q: str) -> list[str]:
        words = plain_words(q)
        if not words:
            return []
        result = searcher.search(ix.parse_query(" ".join(words), ["title", "body"]), depth)
        return [searcher.doc(address)["id"][0] for _, address in result.hits]

    return run, path


def raw_fts5(docs: list[dict], tmp: Path, depth: int = 10):
    import sqlite3

    path = tmp / "fts5.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, tokenize = 'porter unicode61')")
    with conn:
        conn.executemany("INSERT INTO docs (id, title, body) VALUES (?, ?, ?)",
                         ((d["id"], d["title"], d["body"]) for d in docs))
        conn.execute("INSERT INTO docs (docs) VALUES ('optimize')")

    def run(q: str) -> list[str]:
        words = plain_words(q)
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        return [row[0] for row in conn.execute(
            "SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?", (match, depth))]

    return run, path


def raw_bm25s(docs: list[dict], tmp: Path, depth: int = 10):
    import bm25s

    try:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
    except ImportError:  # PyStemmer missing: bm25s without stemming
        stemmer = None
    ids = [d["id"] for d in docs]
    tokens = bm25s.tokenize([f"{d['title']}\n{d['body']}" for d in docs], stopwords="en", stemmer=stemmer,
                            show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    path = tmp / "bm25s"
    retriever.save(str(path))
    k = min(depth, len(ids))

    def run(q: str) -> list[str]:
        query = bm25s.tokenize(q, stopwords="en", stemmer=stemmer, show_progress=False)
        found, scores = retriever.retrieve(query, k=k, show_progress=False, n_threads=1)
        return [ids[i] for i, s in zip(found[0], scores[0]) if s > 0]

    return run, path


RAW = {"whoosh": raw_whoosh, "tantivy": raw_tantivy, "sqlite-fts5": raw_fts5, "bm25s": raw_bm25s}


def raw_worker(system: str, workdir: Path, tmp: Path, queries: dict, limits: dict) -> dict:
    docs = load_docs(workdir)
    base_rss = current_rss_mib()
    started = time.perf_counter()
    run, path = RAW[system](docs, tmp)
    build_s = time.perf_counter() - started
    out: dict = {"docs": len(docs), "build_s": round(build_s, 2), "build_docs_per_s": round(len(docs) / build_s, 1),
                 "index_bytes": dir_bytes(path), "base_rss_mib": base_rss, "rss_after_build_mib": max_rss_mib()}
    sets = {}
    for name in ("short", "long"):
        stats, results = measure(run, queries[name], limits)
        if name == "long":
            judge(stats, results, queries.get("judged_long"))
        stats["mean_hits"] = round(sum(map(len, results)) / max(len(results), 1), 2)
        sets[name] = {"query": stats}
    out["sets"] = sets
    out["peak_rss_mib"] = max_rss_mib()
    return out


def worker(system: str, corpus: str, workdir: Path, quick: bool) -> dict:
    limits = QUICK if quick else FULL
    queries = json.loads((workdir / "queries.json").read_text(encoding="utf-8"))
    tmp = Path(tempfile.mkdtemp(prefix=f"kindred-bench-{system}-"))
    try:
        if system in KINDRED_SYSTEMS:
            result = kindred_worker(system.split("-", 1)[1], workdir, tmp, queries, limits, corpus)
        else:
            result = raw_worker(system, workdir, tmp, queries, limits)
    finally:
        remove(tmp)
    return {"system": system, "corpus": corpus, **result}


# Orchestration ----------------------------------------------------------------------------

def p50(result: dict, qset: str, path: str) -> float | None:
    try:
        return result["sets"][qset][path]["p50_ms"]
    except (KeyError, TypeError):
        return None


def ratios(results: list[dict]) -> list[dict]:
    """Kindred p50 over the raw engine's p50, per corpus, query set and Kindred path."""
    by = {(r["system"], r["corpus"]): r for r in results if "error" not in r}
    rows = []
    for kindred, raw, target in (("kindred-tantivy", "tantivy", 1.5), ("kindred-whoosh", "whoosh", 1.1)):
        for corpus in dict.fromkeys(r["corpus"] for r in results):
            k, r = by.get((kindred, corpus)), by.get((raw, corpus))
            if not (k and r):
                continue
            for qset in ("short", "long"):
                base = p50(r, qset, "query")
                for path in ("search", "rank"):
                    mine = p50(k, qset, path)
                    if base and mine:
                        cpu_mine = k["sets"][qset][path].get("p50_cpu_ms")
                        cpu_base = r["sets"][qset]["query"].get("p50_cpu_ms")
                        rows.append({"kindred": kindred, "raw": raw, "corpus": corpus, "set": qset, "path": path,
                                     "kindred_p50_ms": mine, "raw_p50_ms": base, "ratio": round(mine / base, 2),
                                     "cpu_ratio": round(cpu_mine / cpu_base, 2) if cpu_mine and cpu_base else None,
                                     "target": target, "met": mine / base <= target})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small corpora slices and few queries (smoke run)")
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=CORPORA)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--json", type=Path, default=RESULTS / "engines.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.corpus, args.workdir, args.quick)))
        return

    limits = QUICK if args.quick else FULL
    started = time.perf_counter()
    corpora_info = {}
    results = []
    root = Path(tempfile.mkdtemp(prefix="kindred-bench-corpora-"))
    try:
        for corpus in args.corpora:
            workdir = root / corpus
            corpora_info[corpus] = prepare(corpus, workdir, limits)
            print(f"== {corpus}: {corpora_info[corpus]['docs']} docs, "
                  f"{corpora_info[corpus]['short_queries']} short + {corpora_info[corpus]['long_queries']} long queries",
                  flush=True)
            for system in args.systems:
                t = time.perf_counter()
                command = [PYTHON, __file__, "--worker", system, "--corpus", corpus, "--workdir", str(workdir)]
                if args.quick:
                    command.append("--quick")
                try:
                    result = run_json(command, cwd=REPO)
                except Exception as exc:  # one broken system must not lose the others' figures
                    result = {"system": system, "corpus": corpus, "error": str(exc)[-2000:]}
                result["wall_s"] = round(time.perf_counter() - t, 1)
                results.append(result)
                print(summary_line(result), flush=True)
            remove(workdir)
    finally:
        remove(root)
    table = ratios(results)
    print("\nRatios (same run):")
    for row in table:
        print(f"  {row['kindred']:16} / {row['raw']:8} p50 {row['corpus']:24} {row['set']:5} {row['path']:6} "
              f"{row['kindred_p50_ms']:8.2f} / {row['raw_p50_ms']:8.2f} ms = {row['ratio']:5.2f}  "
              f"(target <= {row['target']}: {'met' if row['met'] else 'NOT met'})")
    for r in results:
        if r["system"] == "kindred-whoosh" and r["corpus"] == "medquad-passages" and "sets" in r:
            long = r["sets"]["long"]
            for path in ("search", "rank"):
                p99 = long[path]["p99_ms"]
                print(f"  kindred-whoosh long-question p99 on {r['docs']} passages ({path}): {p99:.1f} ms "
                      f"(target <= 100: {'met' if p99 <= 100 else 'NOT met'}); nDCG@10 {long[path].get('ndcg@10')}")
            for label, v in r.get("variants", {}).items():
                print(f"    variant {label:24} p50 {v['p50_ms']:7.2f} p99 {v['p99_ms']:7.2f} ms  nDCG@10 {v['ndcg@10']}")
        if r["system"] == "kindred-tantivy" and r["corpus"] == "wikipedia-2015" and "sets" in r:
            print(f"  kindred-tantivy build on {r['docs']} wikipedia docs: engine-only "
                  f"{r.get('engine_docs_per_s')} docs/s (Engine.add alone: {r.get('engine_add', {}).get('docs_per_s')}), "
                  f"full build {r['build_docs_per_s']} docs/s (target >= 2000)")
    write_json(args.json, {"quick": args.quick, "limits": limits, "corpora": corpora_info, "results": results,
                           "ratios": table, "wall_s": round(time.perf_counter() - started, 1)})
    print(f"\nwrote {args.json} in {time.perf_counter() - started:.0f}s")


def summary_line(r: dict) -> str:
    if "error" in r:
        return f"  {r['system']:16} ERROR {r['error'].splitlines()[-1] if r['error'] else ''}"
    parts = [f"  {r['system']:16} build {r['build_s']:7.1f}s ({r['build_docs_per_s']:8.0f} docs/s) "
             f"{r['index_bytes'] / 2**20:7.1f} MiB peak {r['peak_rss_mib']:6.0f} MiB"]
    for qset, paths in r["sets"].items():
        for path, s in paths.items():
            parts.append(f"{qset}/{path} p50 {s['p50_ms']:.2f} p99 {s['p99_ms']:.2f} ms")
    return " | ".join(parts) + f"  [{r['wall_s']}s]"


if __name__ == "__main__":
    main()
