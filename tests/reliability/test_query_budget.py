"""Bounded work per search (issue 14 items 1 and 2, the per-request budget): a hostile query
costs what an ordinary one costs, is refused with a documented 4xx when it asks for more than
the limits, and a search past its deadline stops with a 503. Real indexes, real engines; the
work is measured (memory, positions decoded), never timed."""

from __future__ import annotations

import cProfile
import pstats
import random
import signal
import string
import threading
import tracemalloc

import pytest

from search.deadline import Deadline, SearchTimeout
from search.document import IndexDoc
from search.engine import Concept, EngineQuery, PhraseQuery, TermQuery
from search.engines import create_engine
from search.results import QueryError, SearchRequest
from search.service import SearchService
from search.store import STORE_FILE, Store
from tests.conftest import make_settings
from web.app import create_app

ENGINES = ["whoosh", "tantivy"]


def _long_word(seed: int = 0, letters: int = 1000) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(letters))


def _peak_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_thousand_letter_word_costs_what_a_short_word_costs(service):
    """Spelling looked up every 2-deletion variant of any word: a 1,000-letter word made
    about 500,000 strings (350 MB, seconds of CPU) per request."""
    service.search(SearchRequest(q="ketamine"))  # open the index first
    short = _peak_bytes(lambda: service.search(SearchRequest(q="ketamne therapy")))
    for seed in range(3):  # uncached each time
        long = _peak_bytes(lambda: service.search(SearchRequest(q=_long_word(seed))))
        assert long < max(4 * short, 2_000_000), (long, short)


def test_spelling_looks_up_at_most_the_configured_words(sample_settings):
    service = SearchService(sample_settings.replace(search_spelling_max_words=1))
    try:
        response = service.search(SearchRequest(q="ketamne alcohl"))
        assert response.corrected and "ketamine" in response.corrected and "alcohl" in response.corrected
    finally:
        service.close()


def test_spelling_candidates_are_capped_most_common_first(sample_index, sample_settings):
    store = Store(sample_settings.resolve(sample_settings.index_dir) / "current" / STORE_FILE)
    try:
        every = store.spelling_candidates("care", 2, 1000)
        capped = store.spelling_candidates("care", 2, 2)
        assert len(every) > 2 and len(capped) == 2
        commonest = sorted(every, key=lambda item: (-item[1], item[0]))[:2]
        assert sorted(capped) == sorted(commonest)
    finally:
        store.close()


@pytest.fixture(scope="module")
def small_limits(tmp_path_factory):
    from indexer.build import Indexer
    from tests.conftest import SAMPLE

    root = tmp_path_factory.mktemp("budget")
    settings = make_settings(root, search_max_phrases=3, search_max_exclusions=2)
    Indexer(settings).build([SAMPLE])
    app = create_app(settings)
    yield app.test_client()
    app.extensions["kindred.search"].close()


@pytest.mark.parametrize("query, mentions", [
    ('"ketamine" "therapy" "depression" "infusion"', "at most 3 quoted phrases"),
    ('ketamine -alcohol -"liver damage" -opioids', "at most 2 words or phrases"),
])
def test_more_phrases_or_exclusions_than_the_limit_answer_400(small_limits, query, mentions):
    response = small_limits.get("/api/v1/search", query_string={"q": query})
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert mentions in response.get_json()["error"]["message"]
    page = small_limits.get("/search", query_string={"q": query})
    assert page.status_code == 400 and page.mimetype == "text/html" and mentions in page.get_data(as_text=True)


def test_the_limits_themselves_are_searched(small_limits):
    for query in ('"ketamine" "therapy" "depression"', 'ketamine -alcohol -"liver damage"'):
        assert small_limits.get("/api/v1/search", query_string={"q": query}).status_code == 200


def test_the_default_limits_refuse_the_sixty_excluded_phrases_query(service):
    words = ["alcohol", "liver", "opioid", "therapy", "relapse", "sleep", "teens", "heart"]
    rng = random.Random(1)
    query = "cannabis " + " ".join(f'-"{rng.choice(words)} {rng.choice(words)}"' for _ in range(60))
    with pytest.raises(QueryError, match="at most 10"):
        service.search(SearchRequest(q=query[:1000]))


def _positions_decoded(call) -> int:
    profile = cProfile.Profile()
    profile.runcall(call)
    stats = pstats.Stats(profile).stats
    return sum(calls for (file, _, name), (calls, *_rest) in stats.items()
               if name == "decode_positions" and "whoosh" in file)


def test_whoosh_checks_phrase_positions_only_where_the_rest_of_the_query_matches(tmp_path):
    """`cannabis` + excluded phrases of common words: Whoosh walked the positions of every
    document holding the phrase's words (16 s on a 6k-article index); only the few
    documents that hold `cannabis` can be results, so only theirs are read."""
    engine = create_engine("whoosh", tmp_path / "engine")
    docs = [IndexDoc(f"common-{i}", ["alpha", "beta", "gamma", "delta"] * 3, "", (), 0) for i in range(1500)]
    docs += [IndexDoc(f"cannabis-{i}", ["cannabi", "alpha", "beta"] if i % 2 else ["cannabi", "gamma"], "", (), 0)
             for i in range(6)]
    engine.add(docs)
    excluded = tuple(Concept((PhraseQuery(pair),)) for pair in (("alpha", "beta"), ("gamma", "delta"), ("beta", "gamma")))
    query = EngineQuery(should=(Concept((TermQuery("cannabi"),)),), must_not=excluded, limit=10)
    results = engine.search(query)
    assert sorted(h.id for h in results.hits) == ["cannabis-0", "cannabis-2", "cannabis-4"] and results.total == 3
    # At most: each of the 6 candidates x each phrase's 2 words.
    assert _positions_decoded(lambda: engine.search(query)) <= 6 * 3 * 2
    required = EngineQuery(should=(Concept((TermQuery("cannabi"),)),), must=(Concept((PhraseQuery(("alpha", "beta")),)),),
                           categories=(), limit=10)
    assert engine.search(required).total == 1500 + 3
    engine.close()


@pytest.mark.parametrize("name", ENGINES)
def test_engines_stop_at_a_passed_deadline(tmp_path, name):
    engine = create_engine(name, tmp_path / name)
    engine.add([IndexDoc(f"d{i}", ["alpha", "beta"], "", (), 0) for i in range(50)])
    query = EngineQuery(should=(Concept((TermQuery("alpha"),)),), must_not=(Concept((PhraseQuery(("beta", "alpha")),)),))
    with pytest.raises(SearchTimeout, match="took longer than"):
        engine.search(query, Deadline.after(-1.0))
    assert engine.search(query, Deadline.after(60.0)).total == 50
    engine.close()


def test_whoosh_deadline_leaves_the_alarm_signal_alone(tmp_path):
    """Whoosh's TimeLimitCollector takes over SIGALRM by default; a web worker's signals
    are its server's (use_alarm=False)."""
    engine = create_engine("whoosh", tmp_path / "engine")
    engine.add([IndexDoc(f"d{i}", ["alpha"], "", (), 0) for i in range(20)])
    before = signal.getsignal(signal.SIGALRM)
    assert engine.search(EngineQuery(should=(Concept((TermQuery("alpha"),)),)), Deadline.after(30.0)).total == 20
    assert signal.getsignal(signal.SIGALRM) is before
    errors = []

    def in_thread():
        try:
            engine.search(EngineQuery(should=(Concept((TermQuery("alpha"),)),)), Deadline.after(30.0))
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert errors == []
    engine.close()


def test_a_search_past_its_deadline_answers_503(sample_index):
    app = create_app(make_settings(sample_index, search_timeout=1e-9))
    client = app.test_client()
    try:
        response = client.get("/api/v1/search?q=ketamine")
        assert response.status_code == 503 and response.get_json()["error"]["code"] == "timeout"
        assert "took longer than" in response.get_json()["error"]["message"]
        page = client.get("/search?q=ketamine")
        assert page.status_code == 503 and "took longer than" in page.get_data(as_text=True)
        assert client.get("/healthz").status_code == 200  # the index itself is fine
    finally:
        app.extensions["kindred.search"].close()
