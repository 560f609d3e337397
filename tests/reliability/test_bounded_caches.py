"""Bounded memory per worker (issue 14 item 5): every cache a query can fill has a bound,
so a stream of unique queries (measured on main: 12,000 unique 142-word queries grew one
worker from 133 to 601 MB, linearly) levels off instead of growing. Memory is counted in the
blocks Python holds (sys.getallocatedblocks), never timed."""

from __future__ import annotations

import gc
import random
import string
import subprocess
import sys
import threading

import pytest
from nltk.stem.snowball import SnowballStemmer

import search.snapshot
from search import analysis
from search.caches import BoundedCache
from search.document import IndexDoc
from search.engine import Concept, EngineQuery, TermQuery
from search.engines import create_engine
from search.results import SearchRequest
from search.service import SearchService


def _unique_words(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(string.ascii_lowercase) for _ in range(10)) for _ in range(count)]


def _growth(fill, more) -> int:
    """Memory blocks Python holds after `more` beyond those after `fill`."""
    fill()
    gc.collect()
    before = sys.getallocatedblocks()
    more()
    gc.collect()
    return sys.getallocatedblocks() - before


# Run in a fresh interpreter: the memory blocks Python holds once the caches are full, then
# after as many new unique words again (sys.getallocatedblocks: exact, unlike the RSS).
_WORDS_SCRIPT = """
import random, string, sys
from search import analysis

def analyze_unique_words(count, seed):
    rng = random.Random(seed)
    for _ in range(0, count, 500):  # small batches: what stays is the caches, not results
        words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(8)) for _ in range(500)]
        analysis.analyze(" ".join(words)), [analysis.stem(w) for w in words]

bound = analysis.WORDS_CACHED
analyze_unique_words(bound + bound // 8, 0)
before = sys.getallocatedblocks()
analyze_unique_words(bound, 1)
print(sys.getallocatedblocks() - before, all(info.currsize <= info.maxsize for info in analysis.caches().values()))
"""


@pytest.mark.slow
def test_the_analyzers_word_caches_level_off_with_unique_words():
    """Each new word took a stem and a surface-form entry for good: 65,536 more unique
    words left 198,000 more memory blocks (~300 bytes a word)."""
    result = subprocess.run([sys.executable, "-c", _WORDS_SCRIPT], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    growth, within = result.stdout.split()
    assert within == "True"
    assert int(growth) < 5_000, f"{int(growth):,} more blocks after {analysis.WORDS_CACHED:,} more words"


def test_a_long_word_is_worked_out_but_never_kept():
    word = "x" * analysis.CACHED_WORD_CHARS + "ations"
    before = analysis.caches()
    assert analysis.stem(word) == SnowballStemmer("english").stem(word)
    assert analysis.analyze(word) == [analysis.stem(word)] and analysis.words(word) == [word]
    after = analysis.caches()
    assert all(after[name].misses == before[name].misses for name in after), (before, after)


def test_the_query_caches_stay_within_their_bounds(sample_settings, monkeypatch):
    """Spelling verdicts and document frequencies were kept per index version without an
    LRU (up to 50,000 and 200,000 entries of any length); the response cache too has a bound."""
    monkeypatch.setattr(search.snapshot, "CORRECTIONS_CACHED", 40)
    monkeypatch.setattr(search.snapshot, "DOC_FREQUENCIES_CACHED", 60)
    service = SearchService(sample_settings.replace(search_cache_size=5))
    try:
        words = _unique_words(300, seed=7)
        for start in range(0, len(words), 5):  # five words: spelling and pruning look each up
            service.search(SearchRequest(q=" ".join(words[start:start + 5])))
        usage = service.cache_usage()
        assert usage["responses"] == (5, 5)
        assert usage["corrections"] == (40, 40) and usage["doc_frequencies"] == (60, 60)
        # Still answering right after eviction.
        assert service.search(SearchRequest(q="ketamine")).total > 0
    finally:
        service.close()


def test_whoosh_keeps_posting_arrays_within_its_byte_bound(tmp_path, monkeypatch):
    import search.engines.whoosh as whoosh_engine

    monkeypatch.setattr(whoosh_engine, "DOCSET_CACHE_BYTES", 200_000, raising=False)
    engine = create_engine("whoosh", tmp_path / "engine")
    vocabulary = [f"term{i}" for i in range(1500)]
    rng = random.Random(3)
    engine.add(IndexDoc(f"d{n}", rng.sample(vocabulary, 40), "", (), 0) for n in range(1000))

    def search(terms):
        return lambda: [engine.search(EngineQuery(should=(Concept((TermQuery(t),)),))) for t in terms]

    # Each search counts its matches from the term's cached posting array (Whoosh's searcher
    # also kept each term's idf, for good).
    growth = _growth(search(vocabulary[:500]), search(vocabulary[500:] + _unique_words(300, 1)))
    assert growth < 300, f"{growth:,} more memory blocks after 1,300 more words"
    engine.close()


def test_bounded_cache_evicts_least_recent_and_sizes_by_getsizeof():
    cache = BoundedCache(3)
    for key in "abc":
        cache.put(key, key.upper())
    assert cache.get("a") == "A"  # now the most recent
    cache.put("d", "D")
    assert cache.get("b") is None and [cache.get(k) for k in "acd"] == ["A", "C", "D"]
    sized = BoundedCache(10, getsizeof=len)
    sized.put("x", "123456")
    sized.put("y", "1234")
    sized.put("z", "12")
    assert sized.currsize <= 10 and sized.get("x") is None
    sized.put("huge", "12345678901")  # larger than the whole cache: not kept, nothing lost
    assert sized.get("huge") is None and sized.get("z") == "12"
    assert BoundedCache(0).maxsize == 0


def test_bounded_cache_is_safe_across_threads():
    cache = BoundedCache(50)
    errors = []

    def churn(seed):
        try:
            for n in range(5000):
                cache.put((seed, n), n)
                cache.get((seed, n // 2))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) == 50
