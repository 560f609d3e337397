"""The one analysis pipeline, shared by indexing, query parsing and TF-IDF.

text -> tokenizer -> ASCII folding -> lower-case -> possessives -> stop words -> Snowball stem

The pipeline is NLTK's, run by C implementations of its parts so that a serving worker can
analyze a query without importing NLTK (whose package import loads SciPy and scikit-learn):
the tokenizer is NLTK's RegexpTokenizer pattern and flags compiled by `re` (which is all
RegexpTokenizer does), and the stemmer is the Snowball English algorithm from PyStemmer (the
reference C implementation of the algorithm NLTK's SnowballStemmer implements in Python).
tests/test_analysis.py and bench/stemmer_parity.py hold them to NLTK.

Each token keeps its surface form (the folded word as written) and character span, so
snippets can highlight the words as written in the article, never the stems.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Iterator, NamedTuple

import Stemmer

# Runs of letters and digits; an apostrophe inside a word keeps it whole ("don't").
TOKEN_PATTERN = r"[^\W_]+(?:['\u2019][^\W_]+)*"
# nltk.tokenize.RegexpTokenizer's default flags.
TOKEN_FLAGS = re.UNICODE | re.MULTILINE | re.DOTALL
STEMMER_LANGUAGE = "english"
# 2: PyStemmer's Snowball; words are folded before they are lower-cased.
ANALYZER_VERSION = 2

_word = re.compile(TOKEN_PATTERN, TOKEN_FLAGS)
# No cache of PyStemmer's own: the LRUs below bound what is kept.
_stemmer = Stemmer.Stemmer(STEMMER_LANGUAGE, 0)
# Stemming and folding are the costly steps and words repeat (Zipf), so each word's result
# is kept, in C-speed LRU caches: bounded, because a serving worker meets every word any
# reader types. Only words up to CACHED_WORD_CHARS are kept; a longer one (rare, and each
# entry would hold it) is worked out each time. A build keeps its own `WordMemory` instead.
WORDS_CACHED = 2**16
CACHED_WORD_CHARS = 40


def _load_stop_words() -> frozenset[str]:
    text = resources.files("search").joinpath("stopwords.txt").read_text(encoding="utf-8")
    words = (w for line in text.splitlines() if not line.startswith("#") for w in line.split())
    return frozenset(words)


STOP_WORDS = _load_stop_words()


class Token(NamedTuple):
    term: str  # the stem that is indexed and searched
    surface: str  # the folded, lower-case word as written
    position: int  # ordinal among kept tokens (stop words do not leave gaps)
    start: int  # character span in the original text
    end: int


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _fold_text(run: str) -> str:
    decomposed = unicodedata.normalize("NFKD", run)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _cached_per_word(compute):
    """`compute` with its results for words of up to CACHED_WORD_CHARS kept (LRU)."""
    cached = lru_cache(maxsize=WORDS_CACHED)(compute)

    def lookup(word: str) -> str:
        return cached(word) if len(word) <= CACHED_WORD_CHARS else compute(word)

    lookup.cache_info = cached.cache_info
    return lookup


_fold_cached = _cached_per_word(_fold_text)


def _fold_run(match: re.Match[str]) -> str:
    # Folding each run of non-ASCII characters alone gives what folding the whole text
    # gives (NFKD decomposes character by character and every combining mark is dropped),
    # and mostly-ASCII bodies then cost one C-speed scan.
    return _fold_cached(match.group())


def fold(text: str) -> str:
    """Strip accents: 'naïve' -> 'naive'. Letters of other scripts stay as they are."""
    if text.isascii():
        return text
    return _NON_ASCII_RUN.sub(_fold_run, text)


def _surface_form(word: str) -> str:
    # Folded first: NFKD makes capitals of some characters (a script R), lower-cased after.
    form = fold(word).lower().replace("\u2019", "'")
    if form.endswith("'s"):
        form = form[:-2]
    return form.replace("'", "")


def _analyzed(word: str) -> tuple[str, str]:
    """(surface form, term) of a word as written; the term is '' for a stop word."""
    surface = _surface_form(word)
    return surface, (_stemmer.stemWord(surface) if surface and surface not in STOP_WORDS else "")


# The hot loops below call the C cache directly and test the length inline: a Python
# wrapper per token would cost as much again as the cache saves.
_analyzed_cached = lru_cache(maxsize=WORDS_CACHED)(_analyzed)
_stem_cached = _cached_per_word(_stemmer.stemWord)


def _analyze_word(word: str) -> tuple[str, str]:
    return _analyzed_cached(word) if len(word) <= CACHED_WORD_CHARS else _analyzed(word)


class WordMemory(dict):
    """A build's memory of analyzed words, raw word -> (surface form, term): unbounded, and
    dropped with the build. A known word costs one C-level lookup (`map(memory.__getitem__,
    words)`); `__missing__` runs once per distinct word."""

    def __missing__(self, word: str) -> tuple[str, str]:
        self[word] = analyzed = _analyzed(word)
        return analyzed

    def pairs(self, text: str) -> list[tuple[str, str]]:
        """(surface form, term) of every word of `text`, stop words included (term '')."""
        return list(map(self.__getitem__, _word.findall(text)))

    def terms(self) -> dict[str, str]:
        """The term of every surface form met, stop words left out."""
        return {surface: term for surface, term in self.values() if term}


def surface_form(word: str) -> str:
    """Fold, lower-case, drop a possessive 's and inner apostrophes: "Ketamine's" -> 'ketamine'."""
    return _analyze_word(word)[0]


def stem(surface: str) -> str:
    """The Snowball stem of a surface word."""
    return _stem_cached(surface)


def caches() -> dict[str, object]:
    """The word caches' statistics (functools' cache_info: hits, misses, maxsize, currsize)."""
    return {"fold": _fold_cached.cache_info(), "analyzed": _analyzed_cached.cache_info(),
            "stem": _stem_cached.cache_info()}


def is_stop_word(surface: str) -> bool:
    return surface in STOP_WORDS


def word_matches(text: str) -> Iterator[re.Match[str]]:
    """Every word the tokenizer finds, stop words included, as `re` matches."""
    return _word.finditer(text)


def tokens(text: str) -> list[Token]:
    """Analyze text into kept tokens with their surface forms and spans."""
    out: list[Token] = []
    for match in _word.finditer(text):
        surface, term = _analyze_word(match.group())
        if term:
            out.append(Token(term, surface, len(out), match.start(), match.end()))
    return out


def analyze(text: str) -> list[str]:
    """The terms of a text, in order: what the index, the query and TF-IDF all see."""
    return [term for _, term in map(_analyze_word, _word.findall(text)) if term]


def words(text: str) -> list[str]:
    """Surface words without stop-word removal (for spelling and prefix completion)."""
    return [surface for surface, _ in map(_analyze_word, _word.findall(text)) if surface]


def settings() -> dict[str, object]:
    """What a built index records so a mismatching analyzer is refused, not half-used."""
    digest = hashlib.sha1(" ".join(sorted(STOP_WORDS)).encode()).hexdigest()[:12]
    return {
        "version": ANALYZER_VERSION,
        "tokenizer": f"nltk.RegexpTokenizer({TOKEN_PATTERN!r}) pattern",
        "filters": ["ascii-fold", "lowercase", "possessive", "stop-words", f"snowball-{STEMMER_LANGUAGE}"],
        "stop_words": f"{len(STOP_WORDS)} words, sha1 {digest}",
    }
