"""The Engine contract, run against every engine: real indexes in temp dirs, no mocks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from search import analysis
from search.article import Article
from search.document import IndexDoc
from search.engine import Concept, EngineQuery, PhraseQuery, TermQuery
from search.engines import create_engine, open_engine

ENGINES = ["whoosh", "tantivy"]


def article(id: str, title: str, body: str, category: str = "", tags: tuple[str, ...] = (),
            published: str | None = None) -> Article:
    return Article(id=id, title=title, body=body, category=category, tags=tags,
                   published=dt.date.fromisoformat(published) if published else None)


ARTICLES = [
    article("t-title", "Naloxone saves lives", "Carry a kit when you go out.",
            "Harm Reduction", ("opioids",), "2024-01-10"),
    article("t-body", "Emergency kits", "Pharmacists hand out naloxone to anyone.",
            "Harm Reduction", (), "2024-01-05"),
    article("k-both", "Ketamine for depression", "Clinics offer ketamine infusions for resistant depression.",
            "Treatment", ("ketamine", "mental health"), "2023-06-01"),
    article("k-only", "Ketamine and the bladder", "Heavy ketamine use harms the bladder.",
            "Treatment", ("ketamine",), "2023-05-01"),
    article("d-only", "Living with depression", "Talking therapies and exercise help many people.",
            "Mental Health", ("mental health",), "2023-04-01"),
    article("p-adjacent", "Needle exchange services", "A needle exchange gives out clean equipment.",
            "Harm Reduction", (), "2022-03-01"),
    article("p-apart", "Exchange of ideas", "Nurses discuss needle safety and exchange notes.",
            "News", (), "2022-02-01"),
    article("syn-many", "Cannabis, marijuana and weed", "Cannabis, marijuana, weed: names for one plant.",
            "Cannabis", (), "2022-06-01"),
    article("syn-two", "Cannabis edibles", "Edibles take longer to work.",
            "Cannabis", (), "2022-07-01"),
    # The weaker of the two is indexed first: date ties must fall back to the score.
    article("same-day-weak", "Sleep tips", "Avoid alcohol before bed and keep a routine.",
            "Mental Health", (), "2021-01-01"),
    article("same-day-strong", "Alcohol withdrawal", "Alcohol withdrawal needs medical care.",
            "Treatment", ("alcohol",), "2021-01-01"),
    article("n-news", "New naloxone law", "The law lets pharmacies sell it over the counter.",
            "News", ("opioids", "policy"), "2024-02-01"),
    article("undated", "About this site", "Our editorial policy and who writes here."),
    article("opioid", "Opioid overdose signs", "Pinpoint pupils and slow breathing signal an overdose.",
            "Harm Reduction", ("opioids",), "2023-09-01"),
    article("caffeine", "Caffeine and anxiety", "Coffee and energy drinks can raise anxiety.",
            "Mental Health", ("caffeine", "mental health"), "2022-08-01"),
]
DOCS = [IndexDoc.from_article(a) for a in ARTICLES]
PUBLISHED = {a.id: a.published or dt.date.min for a in ARTICLES}


def term(word: str, boost: float = 1.0) -> TermQuery:
    (stem,) = analysis.analyze(word)
    return TermQuery(stem, boost)


def concept(*words: str, weight: float = 1.0) -> Concept:
    return Concept(tuple(term(w) for w in words), weight)


def phrase(text: str) -> Concept:
    return Concept((PhraseQuery(tuple(analysis.analyze(text))),))


def words(*ws: str, **options) -> EngineQuery:
    return EngineQuery(should=tuple(concept(w) for w in ws), **options)


def build(name: str, path: Path):
    engine = create_engine(name, path)
    assert engine.add(iter(DOCS)) == len(DOCS)
    return engine


@pytest.fixture(params=ENGINES)
def engine(request, tmp_path):
    engine = build(request.param, tmp_path / request.param)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Both engines over the same documents, read-only, for parity checks."""
    root = tmp_path_factory.mktemp("both")
    engines = {name: build(name, root / name) for name in ENGINES}
    yield engines
    for engine in engines.values():
        engine.close()


def ids(engine, query: EngineQuery) -> list[str]:
    return [hit.id for hit in engine.search(query).hits]


def test_a_word_in_the_title_outranks_the_same_word_in_the_body(engine):
    found = ids(engine, words("naloxone"))
    assert found.index("t-title") < found.index("t-body")


def test_any_word_matches_and_more_matches_rank_higher(engine):
    results = engine.search(words("ketamine", "depression", limit=20))
    found = [hit.id for hit in results.hits]
    assert found[0] == "k-both"
    assert set(found) == {"k-both", "k-only", "d-only"} and results.total == 3
    assert all(hit.score > 0 for hit in results.hits)
    assert [h.score for h in results.hits] == sorted((h.score for h in results.hits), reverse=True)


def test_a_phrase_needs_its_words_next_to_each_other(engine):
    assert set(ids(engine, words("needle", "exchange"))) == {"p-adjacent", "p-apart"}
    assert ids(engine, EngineQuery(must=(phrase("needle exchange"),))) == ["p-adjacent"]


def test_must_and_should_together_require_the_must_and_rank_by_both(engine):
    found = ids(engine, EngineQuery(must=(concept("ketamine"),), should=(concept("depression"),)))
    assert found[0] == "k-both" and set(found) == {"k-both", "k-only"}


def test_must_not_excludes(engine):
    found = ids(engine, EngineQuery(should=(concept("ketamine"),), must_not=(concept("bladder"),)))
    assert found == ["k-both"]


def test_many_synonyms_of_one_concept_do_not_beat_two_concepts(engine):
    cannabis = concept("cannabis", "marijuana", "weed")
    edibles = concept("edibles")
    assert ids(engine, EngineQuery(should=(cannabis, edibles)))[0] == "syn-two"
    # Scored as separate concepts, the synonym-stuffed page would win: the disjunction-max matters.
    flat = tuple(concept(w) for w in ("cannabis", "marijuana", "weed", "edibles"))
    assert ids(engine, EngineQuery(should=flat))[0] == "syn-many"


def test_concept_weight_and_alternative_boost_scale_the_score(engine):
    plain = engine.search(words("anxiety")).hits[0]
    weighted = engine.search(EngineQuery(should=(concept("anxiety", weight=2.0),))).hits[0]
    boosted = engine.search(EngineQuery(should=(Concept((term("anxiety", 0.5),)),))).hits[0]
    assert plain.id == weighted.id == boosted.id == "caffeine"
    assert weighted.score == pytest.approx(2 * plain.score, rel=1e-4)
    assert boosted.score == pytest.approx(plain.score / 2, rel=1e-4)


def test_categories_are_any_of(engine):
    query = EngineQuery(categories=("treatment", "mental-health"), sort="date", limit=20)
    assert set(ids(engine, query)) == {"k-both", "k-only", "same-day-strong", "d-only", "same-day-weak", "caffeine"}
    scored = words("ketamine", "depression", categories=("mental-health",))
    assert ids(engine, scored) == ["d-only"]


def test_tags_are_all_of(engine):
    assert set(ids(engine, EngineQuery(tags=("ketamine",), sort="date"))) == {"k-both", "k-only"}
    assert ids(engine, EngineQuery(tags=("ketamine", "mental-health"), sort="date")) == ["k-both"]
    # A filter only narrows: the words still have to match.
    assert ids(engine, words("depression", tags=("ketamine",))) == ["k-both"]


def test_excluded_categories_and_tags(engine):
    found = ids(engine, words("naloxone", "ketamine", not_categories=("news", "treatment")))
    assert set(found) == {"t-title", "t-body"}
    assert ids(engine, words("ketamine", not_tags=("mental-health",))) == ["k-only"]


def test_filters_do_not_change_scores(engine):
    plain = {h.id: h.score for h in engine.search(words("ketamine", "depression")).hits}
    filtered = {h.id: h.score for h in engine.search(words("ketamine", "depression", categories=("treatment",),
                                                           tags=("ketamine",))).hits}
    assert filtered == {i: pytest.approx(plain[i], rel=1e-5) for i in ("k-both", "k-only")}


def test_match_all_sorted_by_date_newest_first(engine):
    results = engine.search(EngineQuery(sort="date", limit=100))
    assert results.total == len(ARTICLES)
    # Same-day articles tie, and index order (an engine's choice) breaks the tie.
    assert [PUBLISHED[h.id] for h in results.hits] == sorted(PUBLISHED.values(), reverse=True)
    assert all(h.score == 0.0 for h in results.hits)


def test_date_sort_breaks_ties_by_relevance(engine):
    found = ids(engine, words("alcohol", "naloxone", sort="date"))
    assert found == ["n-news", "t-title", "t-body", "same-day-strong", "same-day-weak"]


def test_paging_and_exact_total(engine):
    everything = ids(engine, EngineQuery(sort="date", limit=100))
    pages = [engine.search(EngineQuery(sort="date", offset=offset, limit=4)) for offset in range(0, 16, 4)]
    assert [p.total for p in pages] == [len(ARTICLES)] * 4
    assert [h.id for p in pages for h in p.hits] == everything
    query = words("naloxone", "ketamine", "alcohol")
    ranked = ids(engine, EngineQuery(should=query.should, limit=100))
    second = engine.search(EngineQuery(should=query.should, offset=2, limit=3))
    assert [h.id for h in second.hits] == ranked[2:5]
    assert second.total == len(ranked) == 7
    beyond = engine.search(EngineQuery(should=query.should, offset=50, limit=5))
    assert beyond.hits == [] and beyond.total == 7
    # Pages by date split the same-day pair (tied on date, ordered by score) across two pages.
    by_date = [engine.search(EngineQuery(should=query.should, sort="date", offset=offset, limit=2))
               for offset in range(0, 8, 2)]
    assert [h.id for p in by_date for h in p.hits] == [
        "n-news", "t-title", "t-body", "k-both", "k-only", "same-day-strong", "same-day-weak"]
    assert {p.total for p in by_date} == {7}


def test_facets_count_every_match_not_just_the_page(engine):
    results = engine.search(EngineQuery(sort="date", limit=1, facets=True))
    assert results.facets["category"] == [("harm-reduction", 4), ("mental-health", 3), ("treatment", 3),
                                          ("cannabis", 2), ("news", 2)]
    assert results.facets["tags"] == [("mental-health", 3), ("opioids", 3), ("ketamine", 2), ("alcohol", 1),
                                      ("caffeine", 1), ("policy", 1)]
    assert engine.search(words("ketamine")).facets == {}


@pytest.mark.parametrize("query", [
    EngineQuery(sort="date", facets=True),
    words("naloxone", "ketamine", "depression", facets=True),
    words("naloxone", "ketamine", categories=("harm-reduction", "treatment"), facets=True),
    words("depression", "anxiety", tags=("mental-health",), not_categories=("treatment",), facets=True),
    EngineQuery(must=(phrase("needle exchange"),), facets=True),
    words("nothingmatchesthis", facets=True),
])
def test_both_engines_count_the_same_facets(both, query):
    whoosh, tantivy = (both[name].search(query) for name in ENGINES)
    assert whoosh.facets == tantivy.facets
    assert whoosh.total == tantivy.total


@pytest.mark.parametrize("text", [
    "ketamine depression bladder",
    "naloxone overdose opioid",
    "alcohol withdrawal sleep",
    "cannabis edibles anxiety",
    "needle exchange harm reduction",
])
def test_both_engines_rank_simple_queries_alike(both, text):
    query = words(*analysis.words(text), limit=5)
    whoosh, tantivy = (ids(both[name], query) for name in ENGINES)
    assert whoosh == tantivy


def test_upsert_replaces_the_document(engine):
    engine.upsert([IndexDoc.from_article(article("k-only", "Ketamine and the kidneys", "Kidney damage.",
                                                 "Treatment", ("ketamine",), "2023-05-01"))])
    assert ids(engine, words("bladder")) == []
    assert ids(engine, words("kidneys")) == ["k-only"]
    assert engine.doc_count() == len(ARTICLES)
    engine.upsert([IndexDoc.from_article(article("brand-new", "Kidney stones", "Hydration."))])
    assert set(ids(engine, words("kidneys"))) == {"k-only", "brand-new"}
    assert engine.doc_count() == len(ARTICLES) + 1


def test_delete_removes_and_ignores_unknown_ids(engine):
    engine.delete(["k-only", "no-such-id"])
    assert ids(engine, words("ketamine")) == ["k-both"]
    assert engine.doc_count() == len(ARTICLES) - 1
    assert engine.search(EngineQuery(tags=("ketamine",), sort="date", facets=True)).facets["tags"] == [
        ("ketamine", 1), ("mental-health", 1)]


def test_doc_frequency_and_doc_count(engine):
    assert engine.doc_count() == len(ARTICLES)
    assert engine.doc_frequency(term("ketamine").term) == 2
    assert engine.doc_frequency(term("naloxone").term) == 3
    assert engine.doc_frequency("nosuchterm") == 0


@pytest.mark.parametrize("name", ENGINES)
def test_a_second_engine_sees_commits_after_refresh(tmp_path, name):
    writer = build(name, tmp_path)
    reader = open_engine(name, tmp_path)
    assert reader.name == name
    assert ids(reader, words("kidneys")) == []
    writer.upsert([IndexDoc.from_article(article("kidney", "Kidney stones", "Hydration."))])
    writer.delete(["k-only"])
    reader.refresh()
    assert ids(reader, words("kidneys")) == ["kidney"]
    assert ids(reader, words("bladder")) == []
    assert reader.doc_count() == len(ARTICLES)
    reader.refresh()  # nothing changed
    assert reader.doc_count() == len(ARTICLES)
    writer.close()
    reader.close()


@pytest.mark.parametrize("name", ENGINES)
def test_an_empty_index_answers(tmp_path, name):
    engine = create_engine(name, tmp_path)
    results = engine.search(words("ketamine", facets=True))
    assert results.hits == [] and results.total == 0
    assert results.facets == {"category": [], "tags": []}
    assert engine.doc_count() == 0
    engine.close()


def test_tantivy_indexes_built_with_pre_tokenized_content_take_writes_alike(tmp_path, monkeypatch):
    # Indexes from before the whitespace tokenizer declare "raw" content: words must still go
    # in one by one (a "raw" field would index a whole article as one term).
    from search.engines import tantivy as tantivy_engine

    monkeypatch.setattr(tantivy_engine, "CONTENT_TOKENIZER", "raw")
    old = build("tantivy", tmp_path)
    old.close()
    monkeypatch.undo()
    engine = open_engine("tantivy", tmp_path)
    engine.upsert([IndexDoc.from_article(article("kidney", "Kidney stones", "Drink water to pass kidney stones."))])
    assert ids(engine, words("kidneys")) == ["kidney"]
    assert ids(engine, EngineQuery(should=(phrase("needle exchange"),))) == ["p-adjacent"]
    assert ids(engine, EngineQuery(should=(phrase("pass kidney stones"),))) == ["kidney"]
    engine.close()


@pytest.mark.parametrize("name", ENGINES)
def test_a_phrase_scores_as_the_sum_of_its_words_where_it_stands(tmp_path, name):
    # Same length, the phrase once in each: the article that also talks more about its words
    # ranks first, as Whoosh scores a phrase (the sum of its words' scores), on both engines.
    docs = [IndexDoc.from_article(article("more", "Notes", "heart attack risk heart care attack heart diet")),
            IndexDoc.from_article(article("once", "Notes", "heart attack risk blood care sleep walk diet"))]
    engine = create_engine(name, tmp_path / name)
    engine.add(iter(docs))
    scores = engine.rescore([phrase("heart attack")], ["more", "once"])
    engine.close()
    assert scores["more"] > scores["once"] > 0
