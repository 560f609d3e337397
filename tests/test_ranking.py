"""Ranking beyond BM25: proximity of the reader's words, the re-ranked pool, the planner's pairs."""

from __future__ import annotations

import random

import pytest

from indexer.build import Indexer
from search import feedback
from search.config import ConfigError
from search.engine import Concept, EngineQuery, TermQuery
from search.planner import adjacent_pairs
from search.service import SearchRequest, SearchService
from tests.conftest import make_settings, write_jsonl


def build(tmp_path, records: list[dict], **overrides) -> SearchService:
    settings = make_settings(tmp_path, search_cache_size=0, **overrides)
    Indexer(settings).build([write_jsonl(tmp_path / "articles.jsonl", records)])
    return SearchService(settings)


FILLER = ["clinic", "volunteer", "weekly", "county", "program", "meeting", "report", "funding"]


def proximity_articles() -> list[dict]:
    # The same words, as often; the article with them apart is shorter, so BM25 alone puts it first.
    return [
        {"id": "apart", "title": "Community notes", "body": "harm clinic volunteer reduction county"},
        {"id": "adjacent", "title": "Community notes", "body": "clinic volunteer harm reduction weekly county"},
        *({"id": f"other-{n}", "title": "Community notes", "body": " ".join(random.Random(n).sample(FILLER, 6))}
          for n in range(20)),
    ]


@pytest.mark.parametrize("engine", ["whoosh", "tantivy"])
def test_words_typed_together_rank_an_article_that_has_them_together_first(tmp_path, engine):
    with_proximity = build(tmp_path, proximity_articles(), engine=engine)
    without = SearchService(with_proximity.settings.replace(search_proximity_weight=0.0))
    try:
        ranked = [h.id for h in with_proximity.search(SearchRequest(q="harm reduction")).hits]
        assert ranked[:2] == ["adjacent", "apart"]
        assert without.rank("harm reduction", 2) == ["apart", "adjacent"]
        assert with_proximity.rank("harm reduction", 2) == ["adjacent", "apart"]
    finally:
        with_proximity.close()
        without.close()


def test_proximity_weight_cannot_be_negative(tmp_path):
    with pytest.raises(ConfigError, match="search_proximity_weight must be at least 0"):
        make_settings(tmp_path, search_proximity_weight=-0.1)


VOCABULARY = [f"{a}{b}" for a in ("mor", "tal", "ven", "sul", "kip", "dar") for b in ("ana", "eto", "ilu", "omi", "ure")]


def many_articles(count: int = 1100) -> list[dict]:
    rng = random.Random(7)
    return [{"id": f"a{n:04}", "title": " ".join(rng.choices(VOCABULARY, k=3)),
             "body": " ".join(rng.choices(VOCABULARY, k=rng.randint(20, 60)))} for n in range(count)]


def test_evaluation_scores_the_order_readers_see_and_pages_continue_each_other(tmp_path):
    # Feedback and proximity re-rank the best results; every page and every depth must agree
    # on that order, or `kindred eval` (1,000 deep) would score a ranking no reader gets.
    service = build(tmp_path, many_articles(), search_feedback_docs=5, search_proximity_weight=0.1)
    query = "morana taleto venilu sulomi kipure darana"
    try:
        pages = [[h.id for h in service.search(SearchRequest(q=query, page=page, facets=False)).hits]
                 for page in range(1, 8)]
        ranked = service.rank(query, 1000, operators=False)
        assert ranked[:10] == pages[0]
        shown = [doc for page in pages for doc in page]
        assert len(set(shown)) == len(shown) == 70
        assert shown == ranked[:70]
    finally:
        service.close()


def test_pairs_are_adjacent_words_still_in_the_query():
    stems = ["harm", "reduct", "servic", "harm", "reduct", "near", "me"]
    assert adjacent_pairs(stems, {"harm", "reduct", "servic", "near", "me"}) == (
        ("harm", "reduct"), ("reduct", "servic"), ("servic", "harm"), ("reduct", "near"), ("near", "me"))
    # A word pruned from a long question takes its pairs with it.
    assert adjacent_pairs(stems, {"harm", "reduct", "near", "me"}) == (("harm", "reduct"), ("reduct", "near"),
                                                                     ("near", "me"))
    assert adjacent_pairs(["harm", "harm"], {"harm"}) == ()


@pytest.mark.parametrize("query_words", [3, 12])
def test_feedback_words_weigh_a_fixed_worth_however_long_the_question(query_words):
    # A share of the query would give a 12-word question's added words four times the
    # weight they get in a 3-word one; a fixed worth steers a long question less.
    def idf(term: str) -> float:
        return 2.0

    # (an article's strongest terms, its length, its score)
    documents = [({"alpha": 3, "beta": 2, "gamma": 1}, 6, 10.0), ({"alpha": 1, "beta": 1, "delta": 4}, 6, 8.0)]
    query = EngineQuery(should=tuple(Concept((TermQuery(f"word{i}"),)) for i in range(query_words)))
    added = feedback.expansion(query, documents, idf, lambda term: True, terms=10, words=0.5)
    assert {c.alternatives[0].term for c in added} == {"alpha", "beta"}  # in both documents
    assert sum(c.weight * idf(c.alternatives[0].term) for c in added) == pytest.approx(0.5 * 2.0)
