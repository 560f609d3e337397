"""docs/benchmarks.md and its plots, from the JSON the benchmark stages stored.

    python bench/report.py            # from bench/results/ into docs/benchmarks.md and docs/img/bench-*.png
    python bench/report.py --quick    # from bench/results/quick/ into bench/results/quick/

Nothing is measured here: every figure comes from bench/results/*.json, written by
bench/run.py's stages in one run on one machine.
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

from bench.common import REPO, RESULTS, read_json
from bench.engines import BUILD_DOCS_PER_S, BUILD_PROFILE_CORPUS, LONG_QUESTION_P99_MS, RATIO_TARGETS, ratios
from bench.http import IMPORT_TARGET_S
from bench.relevance import baseline_comparison

PY = ".venv/bin/python"
RSS_LABELS = {
    "whoosh_default": "whoosh (gevent)",
    "whoosh_sync": "whoosh (sync)",
    "whoosh_cache_off": "whoosh, cache off",
    "whoosh_analytics_off": "whoosh, analytics off",
    "tantivy_default": "tantivy (gevent)",
}
SYSTEM_LABELS = {
    "kindred-whoosh": "Kindred-whoosh",
    "kindred-tantivy": "Kindred-tantivy",
    "whoosh": "raw Whoosh",
    "tantivy": "raw tantivy",
    "sqlite-fts5": "SQLite FTS5",
    "bm25s": "bm25s",
}
CORPUS_LABELS = {
    "bbc": "BBC News",
    "psychoactive-substances": "psychoactive substances",
    "wikipedia-2015": "Wikipedia 2015",
    "medquad-passages": "MedQuAD passages",
}


# Formatting -------------------------------------------------------------------------------

def ms(value) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def num(value, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def mib(n_bytes) -> str:
    return "–" if n_bytes is None else f"{n_bytes / 2**20:,.1f}"


def verdict(met) -> str:
    if met is None:
        return ""
    return "**met**" if met else "**not met**"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: str) -> str:
    return f"`{text}`"


def block(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```"


def load(results: Path, name: str):
    path = results / f"{name}.json"
    return read_json(path) if path.exists() else None


# Sections ---------------------------------------------------------------------------------

def machine_section(run: dict) -> list[str]:
    m = run["machine"]
    libs = m["libraries"]
    rows = [
        ["CPU", f"{m['cpu']} ({m['cores']} cores)"],
        ["RAM", f"{m['ram_gib']} GiB"],
        ["OS", f"{m['distro']} ({m['os']})"],
        ["Python", m["python"]],
        ["Libraries", ", ".join(f"{k} {v}" for k, v in libs.items())],
        ["wrk / nginx", f"{m['wrk'].split(' Copyright')[0]} / {m['nginx']}"],
        ["Kindred commit", m["commit"]],
        ["Last `bench/run.py` started", run["started"]],
    ]
    out = ["## Machine and run", "", table(["", ""], rows), ""]
    stages = run.get("stages", {})
    if stages:
        srows = [[name, code(info["command"]), f"{info['wall_s'] / 60:.1f} min", info.get("finished", "–"),
                  " / ".join(map(str, info["load_before"])), " / ".join(map(str, info["load_after"])),
                  "ok" if info["exit_code"] == 0 else f"failed ({info['exit_code']})"]
                 for name, info in stages.items()]
        out += [table(["stage", "command", "wall time", "finished", "load avg before (1/5/15 min)", "load avg after",
                       "status"], srows), ""]
        digests = [d for info in stages.values() for d in (info.get("sources_before"), info.get("sources_after")) if d]
        if digests:
            if len(set(digests)) == 1:
                out += [f"Kindred's sources (sha1 of search/, indexer/, web/, kindred/): `{digests[0]}`, unchanged "
                        "during the run.", ""]
            else:
                changed = [name for name, info in stages.items()
                           if info.get("sources_before") != info.get("sources_after")]
                out += [f"> **Kindred's sources changed during the run** (sha1 of search/, indexer/, web/, kindred/ went "
                        f"{' → '.join(dict.fromkeys(digests))}; changed while {', '.join(changed) or 'between stages'} "
                        "ran): figures from different stages, or from one stage, may measure different code.", ""]
        busy = [name for name, info in stages.items() if info["load_before"][0] > 0.8]
        if busy:
            out += [f"> The machine was not idle when stage(s) {', '.join(busy)} started (1-minute load average "
                    "above 0.8 on 2 cores): other processes shared the CPU, so those figures are pessimistic and "
                    "noisier than on an idle machine. The ratios compare systems measured minutes apart under the "
                    "same conditions; CPU-time ratios (thread CPU time per query) are given beside the wall-time "
                    "ones because they depend less on other load.", ""]
    return out


def engines_targets(engines: dict) -> list[list]:
    """Kindred-tantivy over raw tantivy, per path, against RATIO_TARGETS (recomputed from the
    measured p50s, so a changed target needs no new run)."""
    rows = []
    table = ratios(engines["results"])
    expected = 2 * len(engines["corpora"])  # short and long queries on every corpus
    for (kindred, path), goal in RATIO_TARGETS.items():
        cases = [r for r in table if r["kindred"] == kindred and r["path"] == path]
        if not cases:
            continue
        met = sum(1 for r in cases if r["met"])
        worst = max(cases, key=lambda r: r["ratio"])
        best = min(cases, key=lambda r: r["ratio"])
        rows.append([
            f"{SYSTEM_LABELS[kindred]} `{path}()` p50 ÷ raw tantivy p50 (same top 10), every corpus and query set",
            f"≤ {goal}×",
            f"{best['ratio']}× – {worst['ratio']}× (worst: {CORPUS_LABELS.get(worst['corpus'], worst['corpus'])}, "
            f"{worst['set']} queries); met in {met} of {len(cases)} cases"
            + (f" ({expected - len(cases)} not measured)" if len(cases) < expected else ""),
            verdict(met == len(cases) == expected),
        ])
    return rows


def find(results: list[dict], system: str, corpus: str) -> dict | None:
    return next((r for r in results if r["system"] == system and r["corpus"] == corpus and "sets" in r), None)


def not_measured(engines: dict, system: str, corpus: str) -> str:
    """Why a system has no figures on a corpus: its error, or that the run left the corpus out."""
    failed = next((r for r in engines["results"] if r["system"] == system and r["corpus"] == corpus), None)
    if failed and failed.get("error"):
        return f"not measured: {failed['error'].strip().splitlines()[-1][:160]}"
    return "not measured in this run"


def long_question_target(engines: dict) -> list[list]:
    rows = []
    for corpus, goal in LONG_QUESTION_P99_MS.items():
        r = find(engines["results"], "kindred-whoosh", corpus)
        if not r:
            rows.append([f"Kindred-whoosh long-question `search()` p99, {CORPUS_LABELS.get(corpus, corpus)}",
                         f"≤ {goal} ms", not_measured(engines, "kindred-whoosh", corpus), verdict(False)])
            continue
        s, rank = r["sets"]["long"]["search"], r["sets"]["long"]["rank"]
        quality = f"; nDCG@10 {s['ndcg@10']}" if "ndcg@10" in s else ""
        if s.get("timeouts"):
            quality += f"; {s['timeouts']} stopped by search_timeout, counted at the time they took"
        rows.append([f"Kindred-whoosh long-question `search()` p99, {CORPUS_LABELS.get(corpus, corpus)} "
                     f"({r['docs']:,} docs)", f"≤ {goal} ms",
                     f"{ms(s['p99_ms'])} ms (p50 {ms(s['p50_ms'])} ms, n={s['n']}; `rank()` p99 {ms(rank['p99_ms'])} ms)"
                     + quality, verdict(s["p99_ms"] <= goal)])
    return rows


def build_target(engines: dict) -> list[list]:
    r = find(engines["results"], "kindred-tantivy", BUILD_PROFILE_CORPUS)
    if not r:
        return [[f"Kindred-tantivy full build, {CORPUS_LABELS.get(BUILD_PROFILE_CORPUS, BUILD_PROFILE_CORPUS)}",
                 f"≥ {BUILD_DOCS_PER_S:,} docs/s", not_measured(engines, "kindred-tantivy", BUILD_PROFILE_CORPUS),
                 verdict(False)]]
    return [[f"Kindred-tantivy full build (read, analysis, engine, store, related table), {r['docs']:,} "
             f"{CORPUS_LABELS.get(BUILD_PROFILE_CORPUS, BUILD_PROFILE_CORPUS)} articles",
             f"≥ {BUILD_DOCS_PER_S:,} docs/s", f"{num(r['build_docs_per_s'])} docs/s ({r['build_s']:.0f} s)",
             verdict(r["build_docs_per_s"] >= BUILD_DOCS_PER_S)]]


def worker_targets(http: dict) -> list[list]:
    rows = []
    imported = http.get("import")
    if imported:
        heavy = ", ".join(imported["heavy_loaded"]) or "none"
        rows.append(["Serving worker: `import web.app` in a fresh interpreter, median of "
                     f"{imported['repeats']}", f"≤ {IMPORT_TARGET_S} s",
                     f"{imported['wall_s']:.2f} s wall ({imported['cpu_s']:.2f} s CPU); heavy modules loaded: {heavy}",
                     verdict(imported["wall_s"] <= IMPORT_TARGET_S)])
    rss = http.get("worker_rss_mib", {})
    kindred = {name: values for name, values in rss.items() if not name.startswith("flask")}
    if kindred:
        flask = " / ".join(num(v) for v in rss.get("flask_gevent", []))
        rows.append(["Serving worker: resident memory (VmRSS) of each gunicorn worker after the HTTP runs", "reported",
                     "; ".join(f"{RSS_LABELS.get(name, name)} {' / '.join(num(v) for v in values)} MiB"
                               for name, values in kindred.items())
                     + (f" (bare Flask, gevent: {flask} MiB)" if flask else ""), ""])
    return rows


def full_build_target(build: dict) -> list[list]:
    shares = ", ".join(f"{step} {share:.0%}" for step, share in build["shares"].items())
    return [[f"Full build, {build['engine']}, {build['docs']:,} Wikipedia articles (read, analysis, engine, store, "
             "related table)", f"≥ {build['target_docs_per_s']:,} docs/s",
             f"{num(build['docs_per_s'])} docs/s ({build['build_s']:.0f} s: {shares})",
             verdict(build["docs_per_s"] >= build["target_docs_per_s"])]]


SCALING_SPEEDUP = 1.6
SCALING_WORKER_MIB = 1.5 * 1024


def scaling_targets(scaling: list[dict]) -> list[list]:
    rows = []
    for r in scaling:
        peak = max(r["worker_peak_rss_mib"])
        memory_bound = r["articles"] >= 300_000
        goal = f"speed-up ≥ {SCALING_SPEEDUP}×, identical lists" + (", ≤ 1.5 GiB per worker" if memory_bound else "")
        met = r["speedup"] >= SCALING_SPEEDUP and r["identical"] and (peak <= SCALING_WORKER_MIB or not memory_bound)
        rows.append([f"Related batch, `{r['cluster']}` vs in-process, {r['articles']:,} articles", goal,
                     f"{r['speedup']}× of the medians, {best_runs_speedup(r)}× of the best runs ({scaling_runs(r)}), "
                     f"{'identical' if r['identical'] else 'DIFFERENT'}, peak {peak / 1024:.2f} GiB per worker",
                     verdict(met)])
    return rows


def column_runs(r: dict) -> dict[str, list[float]]:
    """Each column's run times (results from before `--repeats` have one)."""
    return r.get("runs") or {"in_process": [r["in_process"]["total_s"]], "on_cluster": [r["on_cluster"]["total_s"]]}


def scaling_runs(r: dict) -> str:
    """The two columns' times: every run's (the speed-up is of their medians), or the one's."""
    return " → ".join(" / ".join(f"{t} s" for t in column_runs(r)[where]) for where in ("in_process", "on_cluster"))


def best_runs_speedup(r: dict) -> float:
    """The speed-up of each column's fastest run: shown beside the medians' because, of two
    runs, the median is their mean, which one run slowed by the machine moves."""
    runs = column_runs(r)
    return round(min(runs["in_process"]) / min(runs["on_cluster"]), 2)


def relevance_target(relevance: dict) -> list[list]:
    comparison = baseline_comparison(relevance["rows"])
    rows = comparison["rows"]
    if not rows:
        return []
    worst = min(rows, key=lambda r: r["change"])
    met = sum(1 for r in rows if r["met"])
    return [[f"Relevance unchanged: `kindred eval` nDCG@10 on {len({r['collection'] for r in rows})} judged "
             f"collections × {len({r['engine'] for r in rows})} engines, against {comparison['commit']}",
             f"≥ before − {comparison['tolerance']}",
             f"within tolerance in {met} of {len(rows)}; worst change {worst['change']:+.4f} ({worst['collection']}, "
             f"{worst['engine']}); per collection under Relevance", verdict(met == len(rows))]]


def related_target(related: list[dict]) -> list[list]:
    largest = max(related, key=lambda r: r["articles"], default=None)
    if largest is None or largest["articles"] < 100_000:
        return []
    seconds, peak = largest["fit_plus_top20_s"], largest["peak_rss_mib"]
    return [[f"Related table for {largest['articles']:,} articles: fit + top-20 (analysis apart), peak memory",
             "≤ 60 s, ≤ 2 GiB", f"{seconds:.1f} s, {peak / 1024:.2f} GiB", verdict(seconds <= 60 and peak <= 2048)]]


def ratio_text(row: dict) -> str:
    """A ratio as its target is written: a count, a multiple (10x) or a percentage."""
    if "errors" in row["name"]:
        return f"{row['value']:.0f}"
    return f"{row['value']:.1f}x" if row.get("unit") == "x" else f"{row['value']:.1%}"


def http_targets(http: dict, issue: int | None) -> list[list]:
    """HTTP ratios with a target: issue 16's (issue=16) or the others (issue=None)."""
    return [[f"HTTP: {row['name']}", row["target"], ratio_text(row), verdict(row["met"])]
            for row in http["ratios"] if row["met"] is not None and row.get("issue") == issue]


def replication_targets(replication: dict) -> list[list]:
    wrk = replication["wrk"]
    return [
        ["Replication: a new version on the primary served by every replica (default poll interval)",
         "≤ 10 s after publication", f"{replication['max_propagation_s']:.1f} s (worst of 2 rebuilds × 2 replicas)",
         verdict(replication["propagation_met"])],
        ["Replication: failed requests through nginx while the primary rebuilds twice and a replica is SIGKILLed "
         "and restarted", "0", f"{wrk['error_count']} of {wrk['requests']:,}", verdict(replication["failures_met"])],
    ]


def engines_section(engines: dict, quick: bool) -> list[str]:
    out = ["## In-process engines", ""]
    limits = engines["limits"]
    out += [
        "Same corpus, same queries, one thread, warm (each query set runs its first "
        f"{limits['warm']} queries once untimed first). Every system runs in its own process per corpus, so its peak "
        "memory (VmHWM) is its own; it includes the corpus the process loads (the raw systems hold the documents "
        "in memory, Kindred reads them from JSON Lines itself), shown as the base.",
        "",
        "- **Kindred**: built with `indexer.build.Indexer` into a temporary index directory (settings from "
        "`search.config.load_settings(overrides=..., environ={}, look_in_cwd=False)`, default settings except "
        "`search_cache_size=0`, so every query is computed), queried through `search.service.SearchService`: "
        "`search(SearchRequest(q=..., facets=False))` is the reader's full path (planning, spelling, pseudo-relevance "
        "feedback, store reads, snippets and highlighting); `rank(q, limit=10)` is the ranking alone.",
        "- **raw Whoosh**: Whoosh's `StemmingAnalyzer` on title and body, `MultifieldParser` with `OrGroup`, "
        "default BM25F, one searcher reused. **raw tantivy**: `en_stem` tokenizer on title and body, "
        "`index.parse_query` (OR by default), 2 indexing threads and a 256 MB heap as Kindred's bulk build. "
        "**SQLite FTS5**: `porter unicode61` tokenizer, an OR of the quoted words, `ORDER BY bm25(docs)`. "
        "**bm25s**: its own tokenizer with English stop words and PyStemmer's English stemmer, numpy backend, "
        "saved to disk (counted in its build time). The raw systems get the query's words lower-cased "
        "(no query syntax); they return the top 10 ids.",
        f"- A timed pass stops after {limits['budget_s']:.0f} s once it has at least 20 queries, so slow systems "
        "measure fewer queries: `n` is the number measured. QPS is queries over the pass's wall time.",
        "",
    ]
    corpora = engines["corpora"]
    crow = [[CORPUS_LABELS.get(c, c), num(i["docs"]), num(i["body_chars_mean"]), i["short_queries"],
             f"{i['long_queries']}: {i['long_kind']} (mean {i['long_words_mean']} words)",
             "; ".join(code(q) for q in i["short_examples"][:3]), code(i["long_examples"][0][:90])]
            for c, i in corpora.items()]
    out += [table(["corpus", "docs", "mean body chars", "short queries", "long queries", "short examples",
                   "long example"], crow), ""]
    out += ["MedQuAD passages: every MedQuAD article body split into its question/answer paragraphs, one passage "
            "per answer (title: the article's focus; the question itself is not indexed). Its long queries are the "
            "real questions; the passages answering the same question text are the relevant ones (nDCG@10 below).",
            ""]
    if quick:
        out += [f"_Quick run: corpora cut to {limits['limit_docs']} documents._", ""]
    out += ["![p50 and p99 latency per system](img/bench-latency.png)", ""]

    results = engines["results"]
    for corpus in corpora:
        out += [f"### {CORPUS_LABELS.get(corpus, corpus)}", ""]
        out += [f"> {SYSTEM_LABELS[r['system']]}: {r['note']}." for r in results
                if r["corpus"] == corpus and r.get("note")]
        out += [""] if out[-1] != "" else []
        rows = []
        for system in SYSTEM_LABELS:
            r = next((x for x in results if x["system"] == system and x["corpus"] == corpus), None)
            if r is None:
                continue
            if "error" in r:
                rows.append([SYSTEM_LABELS[system], "", f"error: {r['error'].splitlines()[-1][:120]}"] + [""] * 10)
                continue
            for number, (path, _) in enumerate(r["sets"]["short"].items()):
                short, long = r["sets"]["short"][path], r["sets"]["long"][path]
                first = number == 0
                rows.append([
                    SYSTEM_LABELS[system] if first else "",
                    path if path != "query" else "",
                    num(r["build_s"], 1) if first else "",
                    num(r["build_docs_per_s"]) if first else "",
                    mib(r["index_bytes"]) if first else "",
                    f"{num(r['peak_rss_mib'])} ({num(r['base_rss_mib'])})" if first else "",
                    ms(short["p50_ms"]), ms(short["p99_ms"]), f"{num(short['qps'])} ({short['n']})",
                    ms(long["p50_ms"]), ms(long["p99_ms"]), f"{num(long['qps'])} ({long['n']})",
                ])
        out += [table(["system", "path", "build s", "build docs/s", "index MiB", "peak RSS MiB (base)",
                       "short p50 ms", "short p99 ms", "short QPS (n)", "long p50 ms", "long p99 ms",
                       "long QPS (n)"], rows), ""]

    out += ["### Ratios (measured side by side in the same run)", "",
            "Kindred's p50 over the raw engine's p50 on the same corpus and queries (both return the top 10); the "
            "CPU column is the same ratio on thread CPU time per query. Issue 16 sets targets for Kindred-tantivy "
            "only; Kindred-whoosh's ratios are shown for information.", ""]
    rrows = [[f"{SYSTEM_LABELS[r['kindred']]} ÷ {SYSTEM_LABELS[r['raw']]}", CORPUS_LABELS.get(r["corpus"], r["corpus"]),
              r["set"], r["path"], ms(r["kindred_p50_ms"]), ms(r["raw_p50_ms"]), f"{r['ratio']}×",
              f"{r['cpu_ratio']}×" if r.get("cpu_ratio") else "–", f"≤ {r['target']}×" if r["target"] else "–",
              verdict(r["met"])]
             for r in ratios(engines["results"])]
    out += [table(["ratio", "corpus", "queries", "Kindred path", "Kindred p50 ms", "raw p50 ms", "ratio", "CPU ratio",
                   "target", ""], rrows), ""]
    out += long_questions_section(engines)
    out += build_section(engines)
    return out


def long_questions_section(engines: dict) -> list[str]:
    results = [r for r in engines["results"] if r["corpus"] == "medquad-passages" and "sets" in r]
    if not results:
        return []
    kw = find(results, "kindred-whoosh", "medquad-passages")
    lists = []
    rows = []
    for r in results:
        for path, s in r["sets"]["long"].items():
            if "ndcg_per_query" in s:
                lists.append(s["ndcg_per_query"])
            rows.append([SYSTEM_LABELS[r["system"]], path if path != "query" else "", ms(s["p50_ms"]), ms(s["p99_ms"]),
                         s["n"], s.get("ndcg@10", "–"), s.get("ndcg_per_query")])
    for label, v in ((kw or {}).get("variants") or {}).items():
        if "ndcg_per_query" in v:
            lists.append(v["ndcg_per_query"])
        settings = ", ".join(f"{k}={v2}" for k, v2 in v["settings"].items())
        name = f"Kindred-whoosh, {label} ({settings})" if settings else "Kindred-whoosh, default settings (again)"
        rows.append([name, "search", ms(v["p50_ms"]), ms(v["p99_ms"]), v["n"],
                     v.get("ndcg@10", "–"), v.get("ndcg_per_query")])
    common = min((len(x) for x in lists), default=0)
    for row in rows:
        per_query = row.pop()
        row.append(round(sum(per_query[:common]) / common, 4) if per_query and common else "–")
    docs = results[0]["docs"]
    out = [f"### Long questions on {docs:,} MedQuAD passages: latency and nDCG@10", "",
           "nDCG@10 with the passages that answer the question (same question text) as relevant. Slow systems measure "
           f"fewer questions, so the last column scores every row on the same first {common} questions. The variants "
           "re-run Kindred-whoosh's `search()` with question pruning and pseudo-relevance feedback changed (same index, "
           "same questions as its default row).", ""]
    out += [table(["system", "path", "p50 ms", "p99 ms", "n", "nDCG@10 (its n)", f"nDCG@10 (first {common})"], rows), ""]
    return out


def build_section(engines: dict) -> list[str]:
    rows = []
    for r in engines["results"]:
        if r["system"] not in ("kindred-whoosh", "kindred-tantivy") or "timings" not in r:
            continue
        t = r["timings"]
        rows.append([CORPUS_LABELS.get(r["corpus"], r["corpus"]), SYSTEM_LABELS[r["system"]], num(r["docs"]),
                     *(num(t.get(k), 1) for k in ("read_s", "analyze_s", "engine_s", "store_s", "related_s")),
                     num(r["build_s"], 1), num(r["build_docs_per_s"]), num(r.get("engine_docs_per_s")),
                     mib(r.get("engine_bytes")), mib(r["index_bytes"])])
    out = ["### Kindred build: where the time goes", "",
           "From the build report's timings (`BuildReport.timings`): engine-only docs/s is documents over the engine "
           "step (create, `Engine.add`, commit). Full docs/s is documents over the whole `Indexer.build` call.", ""]
    out += [table(["corpus", "system", "docs", "read s", "analyze s", "engine s", "store s", "related s", "total s",
                   "full docs/s", "engine-only docs/s", "engine MiB", "index MiB (engine + store)"], rows), ""]
    r = find(engines["results"], "kindred-tantivy", "wikipedia-2015")
    if r and r.get("engine_add"):
        a = r["engine_add"]
        out += [f"`Engine.add` alone for tantivy on the {a['docs']:,} Wikipedia articles, timed apart on documents "
                f"analyzed beforehand ({a['analyze_s']} s of analysis, not counted): {a['add_s']} s, "
                f"**{num(a['docs_per_s'])} docs/s**.", ""]
    return out


STEP_ORDER = ("planning", "spelling", "feedback", "engine search", "hits (store + snippets)", "snippets + highlight")


def steps_table(engines: dict) -> list[str]:
    """Share of Kindred's query time per step, from the cProfile runs (cumulative; steps overlap)."""
    rows = []
    for r in engines["results"]:
        if not r["system"].startswith("kindred") or "profiles" not in r:
            continue
        for qset in ("short", "long"):
            for path in ("search", "rank"):
                prof = r["profiles"][qset].get(path) if isinstance(r["profiles"][qset], dict) else None
                steps = (prof or {}).get("steps_s")
                if not steps or not steps.get("total"):
                    continue
                total = steps["total"]
                count = engines["limits"]["profile"]
                rows.append([CORPUS_LABELS.get(r["corpus"], r["corpus"]), SYSTEM_LABELS[r["system"]], qset, path,
                             ms(total * 1000 / count),
                             *(f"{steps.get(k, 0) / total:.0%}" for k in STEP_ORDER)])
    if not rows:
        return []
    return ["### Kindred's query time by step", "",
            f"cProfile over the first {engines['limits']['profile']} queries of each set (profiler overhead "
            "included, so ms/query is above the timed figures), each on a freshly opened index (its caches "
            "empty): the share of "
            "`search()` / `rank()` time spent inside each step, callees included. Steps overlap: spelling is part of "
            "planning; feedback is choosing the words from the top documents' stored term vectors "
            "(search/feedback.py `expansion`) and re-scoring the pool (the engine's `rescore`, which also adds the "
            "proximity bonus; the first pass counts under engine search); hits are the store reads plus snippets, "
            "snippets + highlight is part of hits.",
            "", table(["corpus", "system", "queries", "path", "ms/query (profiled)", *STEP_ORDER], rows), ""]


def _profile(r: dict, qset: str, path: str) -> dict | None:
    prof = r.get("profiles", {}).get(qset)
    if prof and "tottime" in prof:  # results of an older layout: search path only
        return prof if path == "search" else None
    return (prof or {}).get(path)


def top_own_time(prof: dict, count: int = 3) -> str:
    """The first functions of a profile's own-time table, as `function (seconds)`."""
    lines = prof["tottime"].splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["ncalls", "tottime"])
    functions = []
    for line in lines[header + 1: header + 1 + count]:
        parts = line.split(None, 5)
        functions.append(f"`{parts[5]}` ({float(parts[1]):.2f} s)")
    return ", ".join(functions)


def steps_sentence(prof: dict, count: int) -> str:
    """Where a profiled query's time went, by Kindred step."""
    steps = prof.get("steps_s") or {}
    total = steps.get("total")
    if not total:
        return ""
    share = {k: steps.get(k, 0) / total for k in STEP_ORDER}
    return (f"Profiled, {total * 1000 / count:.2f} ms per query: engine search {share['engine search']:.0%}, "
            f"feedback {share['feedback']:.0%}, hits (store reads + snippets) {share['hits (store + snippets)']:.0%} "
            f"(snippets and highlighting {share['snippets + highlight']:.0%}), planning {share['planning']:.0%} "
            f"(spelling {share['spelling']:.0%}); the most own time in {top_own_time(prof)}.")


def query_cases(engines: dict) -> list[tuple[str, str, str, str, str]]:
    """(system, corpus, query set, path, why) of each query target not met: its worst case."""
    table = ratios(engines["results"])
    cases = []
    for (kindred, path), goal in RATIO_TARGETS.items():
        failing = [r for r in table if r["kindred"] == kindred and r["path"] == path and r["met"] is False]
        if failing:
            worst = max(failing, key=lambda r: r["ratio"])
            cases.append((kindred, worst["corpus"], worst["set"], path,
                          f"the worst {SYSTEM_LABELS[kindred]} `{path}()` ratio, {worst['ratio']}× (target ≤ {goal}×; "
                          f"raw tantivy p50 {ms(worst['raw_p50_ms'])} ms, Kindred {ms(worst['kindred_p50_ms'])} ms)"))
    for corpus, goal in LONG_QUESTION_P99_MS.items():
        r = find(engines["results"], "kindred-whoosh", corpus)
        if r and r["sets"]["long"]["search"]["p99_ms"] > goal:
            cases.append(("kindred-whoosh", corpus, "long", "search",
                          f"the long-question p99 target, {ms(r['sets']['long']['search']['p99_ms'])} ms "
                          f"(target ≤ {goal} ms)"))
    return cases


def http_paragraphs(http: dict) -> list[str]:
    out = []
    failing = [row for row in http["ratios"] if row.get("issue") == 16 and row["met"] is False]
    for name, prof in (http.get("profiles") or {}).items():
        rows = [row for row in failing if row["name"].startswith(name.split()[0])]
        if rows:
            figures = "; ".join(f"{row['name']}: {ratio_text(row)} (target {row['target']})" for row in rows)
            out += [f"- **HTTP {name}**: {figures}. {prof['note']} The most own time in {top_own_time(prof)}."]
    imported = http.get("import")
    if imported and imported["wall_s"] > IMPORT_TARGET_S:
        slowest = ", ".join(f"`{name}` {seconds:.2f} s" for name, seconds in imported["slowest_s"][:8])
        out += [f"- **`import web.app`**: {imported['wall_s']:.2f} s wall, {imported['cpu_s']:.2f} s of CPU (median "
                f"of {imported['repeats']}; each: {', '.join(f'{x:.2f}' for x in imported['wall_each_s'])} s). "
                "Where wall time exceeds CPU time the process waited for a core. The slowest imports, what they "
                f"import included, in one `python -X importtime -c \"import web.app\"`: {slowest}."]
    return out


def profiles_section(engines: dict | None, http: dict | None) -> list[str]:
    out = ["## Where the time goes (profiles of the targets not met)", ""]
    paragraphs: list[str] = []
    details: list[str] = []
    if engines:
        count = engines["limits"]["profile"]
        seen = set()
        for system, corpus, qset, path, why in query_cases(engines):
            if (system, corpus, qset, path) in seen:
                continue
            seen.add((system, corpus, qset, path))
            r = find(engines["results"], system, corpus)
            prof = _profile(r, qset, path) if r else None
            if not prof:
                continue
            label = f"{SYSTEM_LABELS[system]} `{path}()`, {CORPUS_LABELS.get(corpus, corpus)}, {qset} queries"
            paragraphs += [f"- **{label}**, for {why}. {steps_sentence(prof, count)}"]
            details += [f"### {label}", "",
                        f"cProfile over the first {count} queries of the set, reproduced by "
                        f"{code(f'{PY} bench/engines.py --corpora {corpus} --systems {system}')} "
                        "(`profiles` in its JSON). Top functions by cumulative time (which Kindred steps), then by own time:",
                        "", block(prof["cumulative"]), "", block(prof["tottime"]), ""]
        r = find(engines["results"], "kindred-tantivy", BUILD_PROFILE_CORPUS)
        if r and r["build_docs_per_s"] < BUILD_DOCS_PER_S:
            t = r["timings"]
            total = sum(t.values())
            share = ", ".join(f"{k[:-2]} {v:.1f} s ({v / total:.0%})" for k, v in t.items())
            paragraphs += [f"- **Kindred-tantivy full build on {r['docs']:,} articles**, {num(r['build_docs_per_s'])} "
                           f"docs/s (target ≥ {BUILD_DOCS_PER_S:,}): {r['build_s']:.0f} s, of which {share}."]
            a = r.get("engine_add")
            if a:
                prof = a["profile"]
                text = prof["tottime"] if isinstance(prof, dict) else prof
                details += [f"### Kindred-tantivy build, {CORPUS_LABELS.get(BUILD_PROFILE_CORPUS, BUILD_PROFILE_CORPUS)}",
                            "", f"`Engine.add` on the first {a['profile_docs']:,} analyzed articles under cProfile "
                            "(own time):", "", block(text), ""]
    if http:
        paragraphs += http_paragraphs(http)
        for name, prof in (http.get("profiles") or {}).items():
            details += [f"### HTTP {name}, in-process (Flask test client, same settings as the server)",
                        "", prof["note"], "", block(prof["cumulative"]), "", block(prof["tottime"]), ""]
    if not paragraphs:
        return out + ["Every target is met; no profile needed.", ""]
    out += ["Each target not met, with where its time goes (cProfile; the figures below the list are the profiles "
            "themselves):", "", *paragraphs, ""]
    if engines:
        out += steps_table(engines)
    return out + details


def http_section(http: dict) -> list[str]:
    limits = http["limits"]
    site = http["site"]
    labels = {
        "flask": ("bare Flask, constant JSON (gunicorn, 2 sync workers)", "/constant.json"),
        "flask_gevent": ("bare Flask, constant JSON (gunicorn, 2 gevent workers)", "/constant.json"),
        "nginx_static": ("nginx static file (same JSON)", "/constant.json"),
        "nginx_gunicorn": ("nginx → gunicorn (bare Flask, sync)", "/constant.json"),
        "search_default": ("Kindred search, whoosh (defaults: gevent)", "Zipf search log"),
        "search_cache_off": ("Kindred search, whoosh, search_cache_size=0", "Zipf search log"),
        "search_analytics_off": ("Kindred search, whoosh, analytics_enabled=false", "Zipf search log"),
        "search_sync": ("Kindred search, whoosh, worker_type=sync", "Zipf search log"),
        "related": ("Kindred related, whoosh (defaults: gevent)", "every id, shuffled"),
        "related_sync": ("Kindred related, whoosh, worker_type=sync", "every id, shuffled"),
        "search_tantivy": ("Kindred search, tantivy (defaults: gevent)", "Zipf search log"),
        "related_tantivy": ("Kindred related, tantivy (defaults: gevent)", "every id, shuffled"),
        "related_export_nginx": ("related via `kindred export`, nginx (kindred-static.conf)", "every id, shuffled"),
    }
    rows = []
    for key, r in http["runs"].items():
        label, urls = labels.get(key, (key, ""))
        rounds = f" (median of {', '.join(num(x) for x in r['rounds_rps'])})" if "rounds_rps" in r else ""
        rows.append([label, urls, num(r["rps"]) + rounds, ms(r["p50_ms"]), ms(r["p99_ms"]), ms(r["max_ms"]),
                     r["error_count"], num(r["requests"])])
    out = ["## HTTP under load", "",
           f"`{PY} bench/http.py`. Every run: {code(next(iter(http['runs'].values()))['command'])} against "
           f"127.0.0.1 after a {limits['warm']} s warm-up with another log of the same kind; "
           f"wrk {http['wrk']['threads']} threads, {http['wrk']['connections']} connections, "
           f"{limits['duration']} s. wrk shares the 2 cores with the servers. Kindred runs `kindred serve` "
           "(gunicorn, 2 workers of its default worker_type, gevent; the search variants and related once more with "
           "`worker_type=sync`) on the BBC corpus "
           f"({site['articles']:,} articles; index build "
           f"{http['build_s']['whoosh']} s with whoosh, {http['build_s']['tantivy']} s with tantivy). "
           f"The search log: {site['log_length']:,} requests of `/api/v1/search?q=...` drawn with Zipf's law (s = 1) "
           f"from {site['distinct_queries']:,} distinct 1–3-word title queries ({site['distinct_in_log']:,} distinct in "
           f"the log; the most popular is {site['top_query_share']:.1%} of it), API defaults (facets on, 10 per page). "
           f"Related: `/api/v1/related/<id>` over all {site['related_ids']:,} ids. Search variants run interleaved, "
           f"{limits['rounds']} round(s) each, the median round shown: each variant is first warmed for "
           f"{limits.get('warm_search', limits['warm'])} s from another log of the same kind, and each round replays "
           "its own log (new draws, so a round never finds exactly its requests cached by an earlier one). Latency is wrk's "
           "(with coordinated omission)." + export_note(http.get("export")), "",
           "Worker types: a gevent worker keeps connections open between requests (keep-alive) and interleaves "
           "the requests of many connections in one process; a sync worker serves one connection at a time and "
           "closes it after each response, so wrk reconnects for every request. To compare like with like, the bare "
           "Flask ceiling is measured with both (gunicorn's own `gevent` worker class, and `sync`) and each Kindred "
           "figure is compared with the ceiling of its own worker type; the exported files are compared with the "
           "faster of the two.", "",
           table(["server", "URLs", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "requests"], rows), "",
           "![HTTP requests per second](img/bench-http.png)", "", "Ratios, same run:", ""]
    rrows = [[r["name"], ratio_text(r), r["target"], verdict(r["met"])] for r in http["ratios"]]
    out += [table(["ratio", "value", "target", ""], rrows), ""]
    return out + workers_section(http)


def workers_section(http: dict) -> list[str]:
    out = []
    imported = http.get("import")
    if imported:
        out += ["### Serving workers: start-up and memory", "",
                f"`import web.app` in {imported['repeats']} fresh interpreters (`{PY} -c \"import web.app\"`, timed "
                f"inside): median {imported['wall_s']:.3f} s wall, {imported['cpu_s']:.3f} s CPU (each: "
                f"{', '.join(f'{x:.3f}' for x in imported['wall_each_s'])} s). Modules of the writing side loaded: "
                f"{', '.join(imported['heavy_loaded']) or 'none'} (checked: scikit-learn, scipy, numpy, "
                "sparse_dot_topn, NLTK, indexer.build, indexer.related, indexer.sources, indexer.writes).", ""]
    rss = http.get("worker_rss_mib")
    if rss:
        labels = {"flask_sync": "bare Flask (sync)", "flask_gevent": "bare Flask (gevent)", **RSS_LABELS}
        out += ["Resident memory (VmRSS) of each gunicorn worker, read from /proc after the server's last wrk run:", "",
                table(["server", "workers", "VmRSS per worker MiB"],
                      [[labels.get(name, name), len(values), " / ".join(num(v, 1) for v in values)]
                       for name, values in rss.items()]), ""]
    return out


def export_note(export: dict | None) -> str:
    if not export:
        return ""
    return (f" The exported run: `kindred export --static` of the whoosh index ({export['articles']:,} articles, "
            f"{export['files']:,} files, {export['bytes'] / 2**20:.1f} MiB, {export['seconds']} s), Kindred stopped, "
            "nginx serving `/<version>/related/<id>.json` with the documented config.")


def related_section(related: list[dict], run: dict) -> list[str]:
    command = run.get("stages", {}).get("related", {}).get("command", f"{PY} bench/related_scale.py")
    rows = [[num(r["articles"]), r["analyze_s"], r["fit_s"], r["top20_s"], r["fit_plus_top20_s"], num(r["vocabulary"]),
             num(r["peak_rss_mib"]), num(r["rss_before_fit_mib"])] for r in related]
    return ["## Related articles at scale", "",
            f"{code(command)}: the TF-IDF model fitted on n articles from Wikipedia, MedQuAD, BBC and psychoactive "
            "substances (repeated with new ids past 36,600), each size in a fresh process. Analysis (the shared NLTK "
            "pipeline) is timed apart from fit + top-20 neighbours.", "",
            table(["articles", "analyze s", "fit s", "top-20 s", "fit + top-20 s", "vocabulary", "peak RSS MiB",
                   "RSS before fit MiB"], rows), "",
            "![Related articles: time and memory by corpus size](img/bench-related-scale.png)", ""]


def build_stage_section(build: dict, run: dict) -> list[str]:
    command = run.get("stages", {}).get("build", {}).get("command", f"{PY} bench/build.py")
    steps = [[step, seconds, f"{build['shares'][step]:.0%}"] for step, seconds in build["steps_s"].items()]
    related = ", ".join(f"{step} {seconds} s" for step, seconds in build["related_steps_s"].items())
    return ["## Full build", "",
            f"{code(command)}: `Indexer.build` of {build['docs']:,} Wikipedia 2015 articles, {build['engine']} engine, "
            f"default settings, in a fresh process: **{num(build['docs_per_s'])} docs/s** ({build['build_s']} s, peak "
            f"RSS {num(build['peak_rss_mib'])} MiB; target ≥ {build['target_docs_per_s']:,}). Each step's seconds and "
            "share of the whole build:", "", table(["step", "s", "share"], steps), "",
            f"The related step's parts: {related} (cards: each article's item card; fit: vocabulary, TF-IDF and "
            "topics; model_store: the model written; top-k: neighbours; blend: the lists blended, rendered and "
            "written as each block finishes, of which lists_store the writing).",
            ""]


def scaling_section(scaling: list[dict], run: dict) -> list[str]:
    command = run.get("stages", {}).get("scaling", {}).get("command", f"{PY} bench/scaling.py")
    rows = [[num(r["articles"]), scaling_runs(r), f"{r['speedup']}× ({best_runs_speedup(r)}×)",
             "yes" if r["identical"] else "**no**", " / ".join(num(v) for v in r["worker_peak_rss_mib"]),
             f'{num(r["main_peak_rss_mib"])} / {num(r.get("main_peak_rss_on_cluster_mib"))}', r["analyze_s"]]
            for r in scaling]
    steps = ("fit_s", "top_k_s", "blend_s", "lists_store_s", "targets_store_s", "model_store_s", "share_s",
             "cluster_start_s")
    parts = [[num(r["articles"]), where, *(r[key].get(step, "–") for step in steps)]
             for r in scaling for where, key in (("in-process", "in_process"), (r["cluster"], "on_cluster"))]
    return ["## Related batch on a Dask cluster", "",
            f"{code(command)}: the related batch of a full build as `kindred index` runs it "
            "(`indexer.related_build.store_batch`: fit, top-k neighbours and item cards, blend and render, each "
            "block's lists written to a new store as the block finishes, then the model) on synthetic articles "
            "(`bench.corpora.synthetic`: the 36,600 articles of Wikipedia 2015, MedQuAD, BBC and psychoactive "
            "substances, then perturbed repeats: each keeps about three sentences in four of its original and takes two "
            "of other articles), in this process and on a `local:N` Dask cluster started for each run (its start "
            "counted), each size in a fresh process, each column run in turns (in process, cluster, cluster, in process): "
            "the speed-up is the ratio of their median times. Analysis is done once beforehand and not counted. "
            "Identical: the "
            "two stores' related tables (lists, payloads, who shows whom, candidates, vectors, vocabulary, topics) are "
            "the same row for row. Peak RSS: each process's VmHWM (the building process's reset before each run).", "",
            table(["articles", "in process → cluster (each run)", "speed-up of the medians (of the best runs)", "identical",
                   "peak RSS per worker MiB",
                   "building process peak MiB (in process / cluster)", "analysis s (apart)"], rows), "",
            "Where the time goes (each column's first run, seconds; blend + render includes storing the lists, also shown apart; who shows "
            "whom: the rows saying which lists show each article, written in key order once every list is):", "",
            table(["articles", "where", "fit", "top-k + cards", "blend + render", "lists stored", "who shows whom",
                   "model stored", "broadcasts and block inputs", "cluster start"], parts),
            ""]


def replication_section(replication: dict, run: dict) -> list[str]:
    command = run.get("stages", {}).get("replication", {}).get("command", f"{PY} bench/replication.py")
    wrk = replication["wrk"]
    rows = [[f"rebuild {n}", r["build_s"], *(r["replicas_s"][name] for name in ("replica-1", "replica-2"))]
            for n, r in enumerate(replication["rebuilds"], start=1)]
    rows.append(["upsert through nginx", "–", replication["upsert_s"]["replica-1"], replication["upsert_s"]["replica-2"]])
    errors = ", ".join(f"{kind} {count}" for kind, count in wrk["errors"].items())
    statuses = ", ".join(f"{status}: {count:,}" for status, count in sorted(replication["nginx_statuses"].items()))
    return ["## Replication under load", "",
            f"{code(command)}: a primary and two read replicas (`kindred serve`, 2 workers each) behind nginx with "
            "docs/nginx/kindred-replicas.conf, on 127.0.0.1, replication_poll_interval "
            f"{replication['poll_interval_s']:g} s (the default), {replication['articles']:,} articles (the sample site "
            f"and synthetic ones; a snapshot is {mib(replication['snapshot_bytes'])} MiB). wrk "
            f"({wrk['threads']} threads, {wrk['connections']} connections, {wrk['seconds']:.0f} s) replays searches and "
            "related lists through nginx while the primary rebuilds with `kindred index`, an upsert goes through nginx to "
            "the primary, replica-1 is SIGKILLed (master, workers and replication process) and started again "
            f"({replication['restart_s']} s until it answered), and the primary rebuilds again; then wrk is stopped. "
            "Propagation: seconds from the switch of the primary's `current` link (or the upsert's answer) until "
            "the replica's own `current` link names the new version (or the upsert's generation), both read from "
            "disk every 10 ms; the replicas' /healthz is checked to agree at the end.", "",
            table(["change on the primary", "build s", "replica-1 s", "replica-2 s"], rows), "",
            f"wrk through nginx: {wrk['requests']:,} requests, {num(wrk['rps'])} req/s, p50 {ms(wrk['p50_ms'])} ms, "
            f"p99 {ms(wrk['p99_ms'])} ms, max {ms(wrk['max_ms'])} ms; failed: {wrk['error_count']} ({errors}; a "
            f"timeout is an answer slower than {wrk['timeout_s']} s, nginx's proxy_read_timeout). Responses in nginx's "
            f"access log, by status: {statuses} (499: requests wrk itself abandoned when it was stopped).", "",
            "Timeline (seconds after wrk started):", "",
            table(["t s", "event"], [[e["t_s"], e["event"]] for e in replication["events"]]), "",
            "What nginx logged about the upstreams (warnings and errors; a request that failed on one replica and "
            "was answered by another appears here, not in wrk's errors):", "",
            table(["message", "times", "first t s", "last t s"],
                  [[code(p["message"]), p["count"], p["first_t_s"], p["last_t_s"]]
                   for p in replication["nginx_upstream_problems"]] or [["(nothing)", 0, "–", "–"]]), ""]


def relevance_section(relevance: dict) -> list[str]:
    comparison = baseline_comparison(relevance["rows"])
    before = {(r["collection"], r["engine"]): r for r in comparison["rows"]}
    rows = []
    for r in relevance["rows"]:
        b = before.get((r["collection"], r["engine"]))
        rows.append([r["collection"], r["engine"], r["ndcg@10"], b["before"] if b else "–",
                     f"{b['change']:+.4f} {verdict(b['met'])}" if b else "–", r.get("best_peer", "–"),
                     f"{r['margin']:+.4f}" if "margin" in r else "–", r["map"], r["recall@100"], r["queries"],
                     ms(r["mean_query_ms"]), r.get("build_s", "–")])
    commands = [code(r["command"]) for r in relevance["rows"]]
    return ["## Relevance (judged collections)", "",
            "`kindred eval` from the repository root without --config (no site synonyms or rules, no KINDRED_* "
            "variables), all judged queries, plain-text questions, beside the best of raw Whoosh, raw tantivy, "
            "SQLite FTS5 and bm25s on the same collection ([search.md](search.md) has every peer and how the "
            f"defaults were chosen). \"Before\" is nDCG@10 at commit {comparison['commit']}, before issue 16's round "
            f"(bench/relevance_baseline.json); a change down to −{comparison['tolerance']} counts as unchanged.", "",
            table(["collection", "engine", "nDCG@10", "before", "change", "best peer", "margin", "MAP", "recall@100",
                   "judged queries", "mean ms/query", "build s"], rows), "", "Commands:", "",
            *[f"- {c}" for c in commands], ""]


def abuse_targets(abuse: dict) -> list[list]:
    rows = []
    for kind in ("1,000-letter word", "60 excluded phrases"):
        r = abuse["defaults"][kind]
        rows.append([f"{kind} through HTTP, p50 (LISA, {abuse['articles']:,} articles, {abuse['engine']})",
                     f"< {abuse['targets']['ms']} ms", f"{ms(r['p50_ms'])} ms (HTTP {'/'.join(map(str, r['statuses']))})",
                     verdict(r["p50_ms"] < abuse["targets"]["ms"])])
        rows.append([f"{kind}: worker RSS growth", f"<= {abuse['targets']['rss_mib']} MiB",
                     f"{r['rss_growth_mib']} MiB", verdict(r["rss_growth_mib"] <= abuse["targets"]["rss_mib"])])
    return rows


def abuse_section(abuse: dict, run: dict) -> list[str]:
    command = run.get("stages", {}).get("abuse", {}).get("command", f"{PY} bench/abuse.py")

    def rows(results: dict) -> list[list]:
        return [[kind, ", ".join(f"{n} × {status}" for status, n in r["statuses"].items()), ms(r["p50_ms"]),
                 ms(r["max_ms"]), " / ".join(num(v, 1) for v in r["rss_before_mib"].values()),
                 " / ".join(num(v, 1) for v in r["rss_after_mib"].values()), r["rss_growth_mib"]]
                for kind, r in results.items()]

    header = ["query", "answers", "p50 ms", "max ms", "worker RSS before MiB", "after MiB", "largest growth MiB"]
    raised = ", ".join(f"`{k}={v}`" for k, v in abuse["raised_limits"].items())
    burst = abuse["burst"]
    return ["## Hostile queries", "",
            f"{code(command)}: {abuse['corpus'].upper()} ({abuse['articles']:,} articles, {abuse['engine']}, built in "
            f"{abuse['build_s']} s) served by `kindred serve` (gunicorn, 2 sync workers); each query kind sent "
            f"{abuse['limits']['repeats']} times, one at a time, each time a new text (no cached answer), timed by "
            "the client through HTTP; worker resident memory (VmRSS) read from /proc before and after each kind. "
            "Phrases are made of the collection's most common short words, so the engine has the most to walk. "
            "The machine is shared: latencies are pessimistic.", "",
            "Default limits (over `search_max_exclusions` / `search_max_phrases`: 400, documented):", "",
            table(header, rows(abuse["defaults"])), "",
            f"Limits raised ({raised}), so the engine does the work:", "",
            table(header, rows(abuse["raised"])), "",
            f"A burst of {burst['queries']:,} unique {burst['words']}-word queries (corpus words and made-up ones, "
            f"two clients at once): {', '.join(f'{n:,} × {s}' for s, n in burst['statuses'].items())}, p50 "
            f"{ms(burst['p50_ms'])} ms, p99 {ms(burst['p99_ms'])} ms; worker RSS "
            f"{' / '.join(num(v, 1) for v in burst['rss_before_mib'].values())} MiB before, "
            f"{' / '.join(num(v, 1) for v in burst['rss_after_mib'].values())} MiB after (largest growth "
            f"{burst['rss_growth_mib']} MiB, of which {burst['second_half_growth_mib']} MiB after the first "
            f"{num(burst['half_at'])} queries: the caches fill to their bounds, docs/reliability.md):", "",
            table(["unique long queries", "worker RSS MiB"],
                  [[num(done), " / ".join(num(v, 1) for v in rss.values())] for done, rss in burst["rss_curve_mib"]]),
            ""]


# Plots ------------------------------------------------------------------------------------

def plot_latency(engines: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = list(engines["corpora"])
    series = []  # (label, system, path)
    for system in SYSTEM_LABELS:
        paths = ("search", "rank") if system.startswith("kindred") else ("query",)
        for p in paths:
            series.append((SYSTEM_LABELS[system] + (f" {p}()" if p != "query" else ""), system, p))
    colors = ["#1f4e79", "#5b9bd5", "#7f3f00", "#f4a261", "#2a9d8f", "#8d99ae", "#6a4c93", "#e76f51"]
    fig, axes = plt.subplots(2, len(corpora), figsize=(4.2 * len(corpora), 7.5), squeeze=False)
    for col, corpus in enumerate(corpora):
        for row, qset in enumerate(("short", "long")):
            ax = axes[row][col]
            for i, (label, system, p) in enumerate(series):
                r = find(engines["results"], system, corpus)
                if not r:
                    continue
                s = r["sets"][qset].get(p)
                if not s:
                    continue
                ax.bar(i, s["p99_ms"], color=colors[i % len(colors)], alpha=0.35)
                ax.bar(i, s["p50_ms"], color=colors[i % len(colors)])
            ax.set_yscale("log")
            ax.set_axisbelow(True)
            ax.set_xticks(range(len(series)))
            ax.set_xticklabels([s[0] for s in series], rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{CORPUS_LABELS.get(corpus, corpus)}: {qset} queries", fontsize=9)
            ax.grid(axis="y", which="both", alpha=0.3)
            if col == 0:
                ax.set_ylabel("ms per query (log): p50 solid, p99 light")
    fig.suptitle("Query latency, one thread, warm index", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_related(related: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["articles"] for r in related]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(x, [r["analyze_s"] for r in related], "o-", label="analysis s")
    ax.plot(x, [r["fit_s"] for r in related], "o-", label="fit s")
    ax.plot(x, [r["top20_s"] for r in related], "o-", label="top-20 s")
    ax.plot(x, [r["fit_plus_top20_s"] for r in related], "o-", label="fit + top-20 s")
    ax.set_xlabel("articles")
    ax.set_ylabel("seconds")
    ax.grid(alpha=0.3)
    other = ax.twinx()
    other.plot(x, [r["peak_rss_mib"] for r in related], "s--", color="grey", label="peak RSS MiB")
    other.set_ylabel("peak RSS MiB")
    lines = ax.get_legend_handles_labels()
    more = other.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    ax.set_title("Related articles: build time and memory by corpus size", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_http(http: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = http["runs"]
    names = list(runs)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.barh(range(len(names)), [runs[n]["rps"] for n in names], color="#5b9bd5")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("requests per second (log)")
    for i, n in enumerate(names):
        ax.text(runs[n]["rps"], i, f" {runs[n]['rps']:,.0f}", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.set_axisbelow(True)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.set_title("wrk -t2 -c32 on 127.0.0.1 (2 cores shared with the client)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Report -----------------------------------------------------------------------------------

def write_report(results: Path = RESULTS, quick: bool = False) -> Path:
    run = load(results, "run") or {"machine": {}, "stages": {}, "started": "?", "command": "make bench"}
    engines, http = load(results, "engines"), load(results, "http")
    related, relevance = load(results, "related"), load(results, "relevance")
    replication = load(results, "replication")
    abuse = load(results, "abuse")
    build, scaling = load(results, "build"), load(results, "scaling")
    target = results / "benchmarks.md" if quick else REPO / "docs" / "benchmarks.md"
    img = target.parent / "img"
    img.mkdir(parents=True, exist_ok=True)

    total = sum(info["wall_s"] for info in run.get("stages", {}).values())
    out = ["# Benchmarks", "",
           "<!-- Generated by `make bench` (bench/run.py, then bench/report.py); edit bench/report.py instead. -->", "",
           f"Measured by the stages of `{run['command']}` ({total / 60:.0f} minutes of stages) on the machine below, "
           "which lists when each stage ran; every ratio compares figures measured side by side within one stage. "
           "Speed targets live here, never as timed assertions in the tests. Raw figures: `bench/results/*.json` "
           "after a run.", ""]
    if quick:
        out += ["> **Quick smoke run** (`make bench-quick`): small corpus slices and short runs; the figures only "
                "show that the suite works, not how fast anything is.", ""]
    if run.get("machine"):
        out += machine_section(run)

    reader = []  # issue 16, in its order
    if engines:
        reader += engines_targets(engines) + long_question_target(engines)
    if http:
        reader += http_targets(http, issue=16)
    if build:  # the build stage measures the full build apart; the engines stage's build is the fallback
        reader += full_build_target(build)
    elif engines:
        reader += build_target(engines)
    if http:
        reader += worker_targets(http)
    if relevance:
        reader += relevance_target(relevance)
    others = []
    if related:
        others += related_target(related)
    if http:
        others += http_targets(http, issue=None)
    if scaling:
        others += scaling_targets(scaling)
    if replication:
        others += replication_targets(replication)
    if abuse:
        others += abuse_targets(abuse)
    out += ["## Targets", "", "### The reader's path (issue 16)", "",
            "HTTP targets compare Kindred with a bare Flask app under gunicorn with the same number and type of "
            "workers and the same wrk settings: once with Kindred's default gevent workers on both sides, once with "
            "sync workers on both sides (`worker_type=sync`); see HTTP under load.", "",
            table(["target", "goal", "measured", ""], reader), ""]
    if others:
        out += ["### Other targets", "", table(["target", "goal", "measured", ""], others), ""]
    if engines:
        out += engines_section(engines, quick)
        plot_latency(engines, img / "bench-latency.png")
    if http:
        out += http_section(http)
        plot_http(http, img / "bench-http.png")
    if build:
        out += build_stage_section(build, run)
    if related:
        out += related_section(related, run)
        plot_related(related, img / "bench-related-scale.png")
    if scaling:
        out += scaling_section(scaling, run)
    if replication:
        out += replication_section(replication, run)
    if relevance:
        out += relevance_section(relevance)
    if abuse:
        out += abuse_section(abuse, run)
    if engines or http:
        out += profiles_section(engines, http)
    out += ["## Reproducing", "",
            "- everything: `make bench` (installs the `bench` extra: bm25s, PyStemmer, matplotlib; needs Debian's "
            "`wrk` and `nginx`, installed by `make system-deps` when run as root); smoke run: `make bench-quick`",
            f"- one stage: `{PY} bench/run.py --stages engines` (or relevance, http, related, replication), then the report is "
            "regenerated from all stored results; report only: `" + PY + " bench/report.py`",
            f"- in-process engines, one corpus and some systems: `{PY} bench/engines.py --corpora bbc --systems "
            "kindred-tantivy tantivy`",
            f"- HTTP, with the serving worker's import time and memory: `{PY} bench/http.py`; related scale: `{PY} bench/related_scale.py --sizes 10000 30000 100000`; "
            f"replication: `{PY} bench/replication.py`",
            f"- full build: `{PY} bench/build.py`; related batch in process and on Dask: "
            f"`{PY} bench/scaling.py --sizes 100000 300000`",
            f"- hostile queries: `{PY} bench/abuse.py` (`--engine tantivy` for the other engine)",
            "- relevance: the `kindred eval` commands above", ""]
    target.write_text("\n".join(out), encoding="utf-8")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="report the quick run (bench/results/quick/)")
    args = parser.parse_args()
    target = write_report(RESULTS / "quick" if args.quick else RESULTS, quick=args.quick)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
