"""The reader's path does no analysis of stored articles: everything a query needs about an
article (feedback terms, snippet text and offsets, the written forms of stems) was computed
when the article was indexed. Every call into the analyzer during `search()` and `rank()` is
recorded on a real index, and each text it was given must come from the query itself."""

from __future__ import annotations

import pytest

from indexer.build import Indexer
from search import analysis, article, highlight
from search.results import SearchRequest
from search.service import SearchService
from search.store import Store
from tests.conftest import SAMPLE, make_settings

ANALYZER = ("fold", "tokens", "analyze", "words", "stem", "surface_form", "word_matches")
QUERIES = [
    "ketamine",
    "ketamin treatment",  # a misspelling: its correction comes from the vocabulary
    "what are the risks of mixing alcohol with benzodiazepines and opioids",  # long: feedback applies
    '"harm reduction" -cannabis',
    "weed calories",  # a synonym
    "MDMA",
]


@pytest.fixture(params=["whoosh", "tantivy"])
def service(request, tmp_path):
    settings = make_settings(tmp_path, engine=request.param)
    Indexer(settings).build([SAMPLE])
    service = SearchService(settings)
    yield service
    service.close()


@pytest.fixture
def analyzed(monkeypatch) -> list[str]:
    """Every text given to the analyzer while the test runs."""
    seen: list[str] = []
    for name in ANALYZER:
        original = getattr(analysis, name)

        def spy(text, *args, _original=original, **kwargs):
            seen.append(text)
            return _original(text, *args, **kwargs)

        monkeypatch.setattr(analysis, name, spy)
        for module in (article, highlight):  # modules that imported the name itself
            if hasattr(module, name):
                monkeypatch.setattr(module, name, spy)
    return seen


def from_the_query(text: str, query: str) -> bool:
    """A part of the query, or one word (a spelling candidate from the index's vocabulary)."""
    return text.casefold() in query.casefold() or (len(text.split()) == 1 and len(text) <= 40)


def test_search_and_rank_analyze_only_the_query(service, analyzed):
    service.search(SearchRequest(q="warm"))  # the site's synonyms and rules are read (and analyzed) once
    for query in QUERIES:
        analyzed.clear()
        response = service.search(SearchRequest(q=query, facets=True))
        assert response.hits, f"{query!r} finds the sample articles"
        assert any("<mark>" in hit.snippet_html for hit in response.hits), f"{query!r} is highlighted"
        service.rank(query, limit=50, operators=False)
        assert analyzed, "the spy sees the query's own analysis"
        stored = [text for text in analyzed if not from_the_query(text, query)]
        assert stored == [], f"{query!r}: the analyzer read stored text"


def test_the_spy_sees_stored_text_when_it_is_analyzed(service, analyzed):
    """The check above can fail: analysing an article's body is recorded as not from the query."""
    hit = service.search(SearchRequest(q="ketamine")).hits[0]
    body = service.article(hit.id).body
    analyzed.clear()
    analysis.analyze(body)
    assert [text for text in analyzed if not from_the_query(text, "ketamine")] == [body]


@pytest.fixture
def candidate_lookups(monkeypatch) -> list[str]:
    """Every word the spelling index is asked about (the costly part of spelling)."""
    looked_up: list[str] = []
    original = Store.spelling_candidates

    def spy(self, word, *args, **kwargs):
        looked_up.append(word)
        return original(self, word, *args, **kwargs)

    monkeypatch.setattr(Store, "spelling_candidates", spy)
    return looked_up


def test_spelling_works_only_for_unknown_words_or_a_first_pass_that_finds_few(service, candidate_lookups):
    found = service.search(SearchRequest(q="cannabis harvest"))
    assert found.total >= 3 and candidate_lookups == []  # known words, enough results: no look-up

    corrected = service.search(SearchRequest(q="ketamin"))
    assert corrected.corrected == "ketamine" and candidate_lookups == ["ketamin"]

    candidate_lookups.clear()
    rare = service.search(SearchRequest(q="dental"))  # a known word in one article, a letter from "mental"
    assert 0 < rare.total < 3 and "dental" in candidate_lookups
    assert rare.corrected is None and rare.suggestion == "mental"  # its own article stays; the other is offered
