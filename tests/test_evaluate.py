"""`kindred eval` and `kindred eval-related`: a collection is scored on its own, and says how."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import ir_measures
import pytest
from click.testing import CliRunner
from ir_measures import AP, R, nDCG

from kindred.cli import main
from search.evaluation import evaluate
from tests.conftest import write_jsonl

# A site whose synonyms make "weed" find the cannabis article: they must not leak into the
# evaluation of an unrelated collection run from the site's directory.
SITE_TOML = 'synonyms = "synonyms.txt"\nrules = "rules.toml"\n'
SITE_SYNONYMS = "weed => cannabis\n"


def judged_collection(folder: Path) -> tuple[Path, Path, Path]:
    docs = write_jsonl(folder / "docs.jsonl", [
        {"id": "plant", "title": "Cannabis", "body": "Cannabis is a flowering plant."},
        {"id": "garden", "title": "Gardening", "body": "A weed grows between the roses."},
    ])
    queries = write_jsonl(folder / "queries.jsonl", [{"id": "q1", "text": "weed"}])
    qrels = folder / "qrels.tsv"
    qrels.write_text("q1\tplant\t1\n", encoding="utf-8")
    return docs, queries, qrels


def site_directory(folder: Path) -> Path:
    folder.mkdir()
    (folder / "kindred.toml").write_text(SITE_TOML, encoding="utf-8")
    (folder / "synonyms.txt").write_text(SITE_SYNONYMS, encoding="utf-8")
    (folder / "rules.toml").write_text("", encoding="utf-8")
    return folder


def kindred_eval(cwd: Path, *args: str) -> dict:
    """`kindred eval` as a user runs it, as a process in `cwd`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINDRED_")}
    result = subprocess.run([sys.executable, "-m", "kindred", *args], cwd=cwd, capture_output=True, text=True,
                            check=True, env=env)
    return json.loads(result.stdout)


def test_eval_ignores_the_config_of_the_directory_it_runs_in(tmp_path):
    docs, queries, qrels = judged_collection(tmp_path)
    site = site_directory(tmp_path / "site")
    report = kindred_eval(site, "eval", "--docs", str(docs), "--queries", str(queries), "--qrels", str(qrels))
    assert report["ndcg@10"] == 0.0  # "weed" alone never reaches the cannabis article
    assert (report["config"], report["synonyms"], report["rules"]) == (None, None, None)
    assert report["settings"]["engine"] == "whoosh"
    assert report["settings"]["search_proximity_weight"] >= 0


def test_eval_applies_a_sites_synonyms_only_with_config_and_names_them(tmp_path):
    docs, queries, qrels = judged_collection(tmp_path)
    site = site_directory(tmp_path / "site")
    report = kindred_eval(tmp_path, "--config", str(site / "kindred.toml"), "eval", "--docs", str(docs),
                          "--queries", str(queries), "--qrels", str(qrels))
    assert report["ndcg@10"] > 0.0
    assert report["config"] == str(site / "kindred.toml")
    assert report["synonyms"] == str(site / "synonyms.txt")
    assert report["rules"] == str(site / "rules.toml")


def labelled_articles(folder: Path) -> Path:
    topics = {"cats": "cat kitten whiskers purr litter", "boats": "boat sail harbour keel anchor",
              "bread": "bread flour yeast dough oven"}
    records = [{"id": f"{label}-{n}", "title": f"{label} note {n}", "body": f"{words} {words.split()[n % 5]}",
                "category": label} for label, words in topics.items() for n in range(8)]
    return write_jsonl(folder / "articles.jsonl", records)


def test_eval_related_scores_a_stable_half_of_the_articles(tmp_path):
    docs = labelled_articles(tmp_path)

    def scored(split: str) -> dict:
        result = CliRunner().invoke(main, ["eval-related", "--docs", str(docs), "--split", split],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def without_timings(report: dict) -> dict:
        return {k: v for k, v in report.items() if not k.endswith("_s")}

    tune, heldout, every = scored("tune"), scored("heldout"), scored("all")
    assert (tune["split"], heldout["split"], every["split"]) == ("tune", "heldout", "all")
    assert 0 < tune["labelled_sources"] < every["labelled_sources"]
    assert tune["labelled_sources"] + heldout["labelled_sources"] == every["labelled_sources"] == 24
    assert without_timings(scored("tune")) == without_timings(tune)  # the same half every time


def test_metrics_agree_with_trec_eval_through_ir_measures():
    """Our nDCG@10, MAP and recall@100 against trec_eval's (pytrec_eval, through ir-measures)
    on random runs with graded judgments, unjudged and unretrieved relevant documents."""
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(300)]
    qrels = {}
    for q in range(40):
        judged = rng.sample(docs, rng.randint(2, 40))
        qrels[f"q{q}"] = {d: (rng.choice([1, 2, 3]) if i == 0 else rng.choice([0, 1, 1, 2, 3]))
                          for i, d in enumerate(judged)}
    rankings = {q: rng.sample(docs, rng.randint(1, 150)) for q in qrels}
    ours = evaluate(rankings, qrels)
    run = {q: {d: float(len(ranking) - rank) for rank, d in enumerate(ranking)} for q, ranking in rankings.items()}
    theirs = ir_measures.calc_aggregate([nDCG @ 10, AP, R @ 100], qrels, run)
    assert ours["ndcg@10"] == pytest.approx(theirs[nDCG @ 10], abs=1e-4)
    assert ours["map"] == pytest.approx(theirs[AP], abs=1e-4)
    assert ours["recall@100"] == pytest.approx(theirs[R @ 100], abs=1e-4)
