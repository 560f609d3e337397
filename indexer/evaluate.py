"""`kindred eval`: build an index from judged documents and score the shipped search on them."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from indexer.build import Indexer
from indexer.related_build import related_lists
from indexer.sources import Record, read_paths
from search.article import Article
from search.config import Settings, load_settings
from search.document import IndexDoc
from search.evaluation import evaluate, load_qrels, load_queries
from search.service import SearchService
from search.related_lists import RelatedEntry

SPLITS = ("all", "tune", "heldout")
# The settings that decide a ranking, reported with every evaluation.
RANKING_SETTINGS = ("engine", "field_weights", "search_k1", "search_b", "search_max_terms", "search_max_postings",
                    "search_synonym_weight", "search_proximity_weight", "search_feedback_docs", "search_feedback_terms",
                    "search_feedback_words", "search_feedback_focus", "search_feedback_min_terms",
                    "search_rare_word_emphasis", "search_long_query_terms")


def evaluation_settings(config_file: Path | None, overrides: Mapping[str, Any] | None = None,
                        environ: Mapping[str, str] | None = None) -> Settings:
    """The settings an evaluation runs with: a collection is scored on its own.

    A site's kindred.toml, synonyms and rules apply only when `config_file` names them
    (`kindred eval --config`): the one in the working directory is not looked for, and
    without a config there are no synonyms or rules (the sample site's drug slang has
    nothing to do with aerodynamics)."""
    settings = load_settings(config_file, overrides, environ, look_in_cwd=False)
    if config_file is None:
        settings = settings.replace(synonyms=Path(os.devnull), rules=Path(os.devnull))
    return settings


def described(settings: Settings, config_file: Path | None) -> dict[str, object]:
    """What an evaluation used: the config file, synonyms, rules and ranking settings."""
    return {
        "config": str(config_file) if config_file else None,
        "synonyms": str(settings.resolve(settings.synonyms)) if config_file else None,
        "rules": str(settings.resolve(settings.rules)) if config_file else None,
        "settings": {name: getattr(settings, name) for name in RANKING_SETTINGS},
    }


def in_split(item_id: str, split: str) -> bool:
    """A fixed half of the queries (or articles) for tuning, the other half held out (by hash, not order)."""
    if split == "all":
        return True
    tune = int(hashlib.sha1(item_id.encode()).hexdigest(), 16) % 2 == 0
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


def run_eval_related(settings: Settings, docs: Path, label: str = "category", k: int = 5,
                     split: str = "all") -> dict[str, object]:
    """Fit the related model on `docs` with the label held out; score precision@k against it.

    The label is removed from every article before fitting, so no category or tag boost
    can see it: the figure measures the text model (and blend) alone. Every article is
    fitted and listed; `split` chooses whose lists are scored (a fixed half by id)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    articles, labelled = read_labelled(docs, label)
    timings["read_s"] = time.perf_counter() - started

    started = time.perf_counter()
    weights = settings.field_weights
    index_docs = [IndexDoc.from_article(a, weights) for a in articles]
    timings["analyze_s"] = time.perf_counter() - started

    lists, model_timings = related_lists(settings, articles, index_docs)
    timings.update(model_timings)
    return {**score_related(lists, [a.id for a in articles], labelled, k, split), "label": label,
            **{name: round(value, 2) for name, value in timings.items()}}


def read_labelled(docs: Path, label: str = "category") -> tuple[list[Article], dict[str, str]]:
    """The articles of `docs` with `label` removed, and each labelled article's label."""
    labelled: dict[str, str] = {}
    articles = []
    for item in read_paths([docs]):
        if not isinstance(item, Record):
            continue
        value = _label(item.article, label)
        if value:
            labelled[item.article.id] = value
        articles.append(_without(item.article, label))
    return articles, labelled


def score_related(lists: Mapping[str, Sequence[RelatedEntry]], ids: Sequence[str], labelled: Mapping[str, str],
                  k: int = 5, split: str = "all") -> dict[str, object]:
    """precision@k of the lists of the labelled articles in `split`: of their first k
    entries, the share with the same label (an unlabelled entry counts as a miss); coverage:
    the share of articles whose first k entries are all `similar`."""
    hits = total = full = 0
    scored = [i for i in ids if in_split(i, split)]
    for article_id in scored:
        entries = lists.get(article_id, [])[:k]
        if sum(1 for e in entries if e.kind == "similar") >= k:
            full += 1
        source_label = labelled.get(article_id)
        if source_label is None:
            continue
        total += len(entries)
        hits += sum(1 for e in entries if labelled.get(e.id) == source_label)
    return {
        f"precision@{k}": round(hits / total, 4) if total else 0.0,
        "coverage": round(full / len(scored), 4) if scored else 0.0,
        "articles": len(ids),
        "labelled_sources": len([i for i in scored if i in labelled]),
        "split": split,
    }


def _label(article: Article, label: str) -> str | None:
    if label == "category":
        return article.category_key or None
    if label == "tags":
        return article.tag_keys[0] if article.tag_keys else None
    raise ValueError(f"label must be 'category' or 'tags', not {label!r}")


def _without(article: Article, label: str) -> Article:
    return replace(article, category="") if label == "category" else replace(article, tags=())
