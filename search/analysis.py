"""The one analysis pipeline, shared by indexing, query parsing and TF-IDF.

text -> NLTK RegexpTokenizer -> lower-case -> ASCII folding -> stop words -> Snowball stem

Pure functions over module-level NLTK parts; no data downloads. Each token keeps its
surface form (the folded word as written) and character span, so snippets can
highlight the words as written in the article, never the stems.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from importlib import resources
from typing import NamedTuple

from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize import RegexpTokenizer

# Runs of letters and digits; an apostrophe inside a word keeps it whole ("don't").
TOKEN_PATTERN = r"[^\W_]+(?:['\u2019][^\W_]+)*"
STEMMER_LANGUAGE = "english"
ANALYZER_VERSION = 1



class _LinearRegexpTokenizer(RegexpTokenizer):
    """NLTK's RegexpTokenizer compiled with the standard `re` module.

    NLTK wraps caller patterns in a ReDoS timeout guard that costs about 4x per token;
    TOKEN_PATTERN has no nested quantifiers, so it runs in linear time without one.
    """

    def _check_regexp(self) -> None:
        if self._regexp is None:
            self._regexp = re.compile(self._pattern, self._flags)


_tokenizer = _LinearRegexpTokenizer(TOKEN_PATTERN)
_stemmer = SnowballStemmer(STEMMER_LANGUAGE)
# Unbounded on purpose: a site's vocabulary is finite, and stemming is the costly step.
_stem_cache: dict[str, str] = {}
_surface_cache: dict[str, str] = {}


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
_fold_cache: dict[str, str] = {}


def _fold_run(match: re.Match[str]) -> str:
    # Folding each run of non-ASCII characters alone gives what folding the whole text
    # gives (NFKD decomposes character by character and every combining mark is dropped),
    # and mostly-ASCII bodies then cost one C-speed scan.
    run = match.group()
    folded = _fold_cache.get(run)
    if folded is None:
        decomposed = unicodedata.normalize("NFKD", run)
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        if len(_fold_cache) < 100_000:
            _fold_cache[run] = folded
    return folded


def fold(text: str) -> str:
    """Strip accents: 'naïve' -> 'naive'. Letters of other scripts stay as they are."""
    if text.isascii():
        return text
    return _NON_ASCII_RUN.sub(_fold_run, text)


def surface_form(word: str) -> str:
    """Lower-case, fold, drop a possessive 's and inner apostrophes: "Ketamine's" -> 'ketamine'."""
    cached = _surface_cache.get(word)
    if cached is not None:
        return cached
    form = fold(word.lower()).replace("\u2019", "'")
    if form.endswith("'s"):
        form = form[:-2]
    form = form.replace("'", "")
    if len(_surface_cache) < 2_000_000:
        _surface_cache[word] = form
    return form


def stem(surface: str) -> str:
    cached = _stem_cache.get(surface)
    if cached is None:
        cached = _stem_cache[surface] = _stemmer.stem(surface)
    return cached


def is_stop_word(surface: str) -> bool:
    return surface in STOP_WORDS


def tokens(text: str) -> list[Token]:
    """Analyze text into kept tokens with their surface forms and spans."""
    out: list[Token] = []
    position = 0
    for start, end in _tokenizer.span_tokenize(text):
        surface = surface_form(text[start:end])
        if not surface or surface in STOP_WORDS:
            continue
        out.append(Token(stem(surface), surface, position, start, end))
        position += 1
    return out


def analyze(text: str) -> list[str]:
    """The terms of a text, in order: what the index, the query and TF-IDF all see."""
    terms: list[str] = []
    for word in _tokenizer.tokenize(text):
        surface = surface_form(word)
        if surface and surface not in STOP_WORDS:
            terms.append(stem(surface))
    return terms


def words(text: str) -> list[str]:
    """Surface words without stop-word removal (for spelling and prefix completion)."""
    return [w for w in map(surface_form, _tokenizer.tokenize(text)) if w]


def settings() -> dict[str, object]:
    """What a built index records so a mismatching analyzer is refused, not half-used."""
    digest = hashlib.sha1(" ".join(sorted(STOP_WORDS)).encode()).hexdigest()[:12]
    return {
        "version": ANALYZER_VERSION,
        "tokenizer": f"nltk.RegexpTokenizer({TOKEN_PATTERN!r})",
        "filters": ["lowercase", "ascii-fold", "possessive", "stop-words", f"snowball-{STEMMER_LANGUAGE}"],
        "stop_words": f"{len(STOP_WORDS)} words, sha1 {digest}",
    }
