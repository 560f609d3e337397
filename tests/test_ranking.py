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
    added = feedback.expansion(query, documents, idf, lambda term: True, terms=10, words=0.5, focus=1.0)
    assert {c.alternatives[0].term for c in added} == {"alpha", "beta"}  # in both documents
    assert sum(c.weight * idf(c.alternatives[0].term) for c in added) == pytest.approx(0.5 * 2.0)


def test_feedback_follows_the_best_results_more_than_the_near_misses():
    # The first two results share "alpha"; four results scoring 60 % of the first share
    # "beta", more often. Weighed by score alone, the near-misses outvote the best results.
    def idf(term: str) -> float:
        return 2.0

    best = [({"alpha": 3, "gamma": 1}, 6, 10.0), ({"alpha": 2, "delta": 1}, 6, 9.5)]
    near_misses = [({"beta": 4, f"other{n}": 1}, 6, 6.0) for n in range(4)]
    query = EngineQuery(should=(Concept((TermQuery("word"),)),))

    def strongest(focus: float) -> str:
        added = feedback.expansion(query, best + near_misses, idf, lambda term: True, terms=10, words=1.0,
                                   focus=focus)
        return max(added, key=lambda c: c.weight).alternatives[0].term

    assert strongest(1.0) == "beta"
    assert strongest(6.0) == "alpha"


def test_feedback_document_weights_follow_the_score_relative_to_the_best():
    assert feedback.document_weights([4.0, 2.0, 2.0], 0.0) == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert feedback.document_weights([4.0, 2.0, 2.0], 1.0) == pytest.approx([0.5, 0.25, 0.25])
    assert feedback.document_weights([4.0, 2.0, 2.0], 2.0) == pytest.approx([4 / 6, 1 / 6, 1 / 6])
    assert feedback.document_weights([0.0, 0.0], 2.0) == [0.0, 0.0]


def test_feedback_focus_cannot_be_negative(tmp_path):
    with pytest.raises(ConfigError, match="search_feedback_focus must be at least 0"):
        make_settings(tmp_path, search_feedback_focus=-1)


def framing_articles() -> list[dict]:
    # "naloxone" and "training" are in most articles, so a rare word of the request's
    # formula ("pleased"), or a lone letter of "e.g.", would outweigh them both.
    common = [{"id": f"kit-{n}", "title": "Naloxone kits", "body": f"naloxone training session {FILLER[n % 8]}"}
              for n in range(20)]
    return [
        *common,
        {"id": "weather", "title": "Staff picnic", "body": "We were pleased with the weather."},
        {"id": "vitamins", "title": "Vitamin E", "body": "Vitamin E and G proteins."},
        {"id": "course", "title": "Naloxone training course", "body": "A naloxone training course for pharmacy staff."},
        *({"id": f"note-{n}", "title": "Notes", "body": FILLER[n % 8]} for n in range(10)),
    ]


@pytest.mark.parametrize("engine", ["whoosh", "tantivy"])
@pytest.mark.parametrize("query, formula_only", [
    ("I would be pleased to receive any papers on naloxone training", "weather"),
    ("I am also interested in naloxone training", "weather"),
    ("naloxone training, e.g. a course", "vitamins"),
    ("naloxone training (i.e. course)", "vitamins"),
])
def test_the_words_that_frame_a_request_are_not_searched(tmp_path, engine, query, formula_only):
    service = build(tmp_path, framing_articles(), engine=engine, search_feedback_docs=0)
    try:
        ranked = service.rank(query, 50, operators=False)
        assert ranked[0] == "course"
        assert formula_only not in ranked
        # The same words outside a formula are searched.
        assert "weather" in service.rank("pleased staff", 50) and "vitamins" in service.rank("vitamin e", 50)
    finally:
        service.close()


def rare_word_articles() -> list[dict]:
    # One article names the topic with a rare word; another holds every common word of the query.
    common = ["report", "meeting", "county", "program", "volunteer", "clinic"]
    return [
        {"id": "topic", "title": "Notes", "body": "naloxone weekly"},
        {"id": "common", "title": "Notes", "body": " ".join(common)},
        *({"id": f"other-{n}", "title": "Notes", "body": " ".join(random.Random(n).sample(common, 3))}
          for n in range(30)),
    ]


@pytest.mark.parametrize("engine", ["whoosh", "tantivy"])
def test_a_long_query_weighs_its_rare_words_more_and_a_short_one_is_left_as_typed(tmp_path, engine):
    options = dict(engine=engine, search_feedback_docs=0, search_proximity_weight=0.0, search_long_query_terms=6)
    emphasis = build(tmp_path, rare_word_articles(), search_rare_word_emphasis=0.5, **options)
    plain = SearchService(emphasis.settings.replace(search_rare_word_emphasis=0.0))
    long_query = "naloxone report meeting county program volunteer clinic"
    short_query = "naloxone report meeting county program"  # five words: not long
    try:
        assert plain.rank(long_query, 2) == ["common", "topic"]
        assert emphasis.rank(long_query, 2) == ["topic", "common"]
        assert emphasis.rank(short_query, 40) == plain.rank(short_query, 40)
    finally:
        emphasis.close()
        plain.close()


def test_rare_word_emphasis_cannot_be_negative(tmp_path):
    with pytest.raises(ConfigError, match="search_rare_word_emphasis must be at least 0"):
        make_settings(tmp_path, search_rare_word_emphasis=-0.1)
