"""Spelling correction from the index's own vocabulary ("did you mean").

Candidates come from the store's deletion index (SymSpell style) and are ranked by
Damerau-Levenshtein distance, then by how many articles use the word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rapidfuzz.distance import OSA

from search import analysis

# The spelling index holds known words of 3 to this many letters (search/store.py). A word
# longer than this plus the largest edit distance has no candidate, so it is not looked up:
# a 1,000-letter word would otherwise expand into half a million deletion variants.
LONGEST_INDEXED_WORD = 24
MAX_DISTANCE = 2

# Endings that make a different word form, not a typo: "opioid" is fine when only
# "opioids" is in the index (both stem alike, so results are the same anyway).
_INFLECTIONS = ("s", "es", "ed", "d", "ing", "ly", "er", "ers")


@dataclass(frozen=True)
class Correction:
    word: str
    replacement: str
    automatic: bool  # True: search the replacement instead; False: only suggest it


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, capped at `limit` (rapidfuzz)."""
    return min(OSA.distance(a, b, score_cutoff=limit), limit)


def _inflected(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return long.startswith(short) and long[len(short):] in _INFLECTIONS


def checkable(word: str) -> bool:
    """Whether a word is worth a spelling look-up: ASCII letters, of a length a known word
    is within reach of."""
    return 4 <= len(word) <= LONGEST_INDEXED_WORD + MAX_DISTANCE and word.isalpha() and word.isascii()


def correct(word: str, frequency: Callable[[str], int], candidates: Callable[[str, int], list[tuple[str, int]]],
            term_known: Callable[[str], bool]) -> Correction | None:
    """A correction for one surface word, or None when it looks right.

    `candidates(word, distance)`: known words sharing a deletion variant with `word`."""
    if not checkable(word):
        return None
    df = frequency(word)
    max_distance = 1 if len(word) < 6 else MAX_DISTANCE
    scored = []
    for candidate, candidate_df in candidates(word, max_distance):
        if candidate == word:
            continue
        distance = edit_distance(word, candidate, max_distance + 1)
        if distance <= max_distance:
            scored.append((distance, -candidate_df, candidate))
    if not scored:
        return None
    distance, neg_df, best = min(scored)
    if df == 0:
        if _inflected(word, best) or (term_known(analysis.stem(word)) and analysis.stem(best) != analysis.stem(word)):
            return None  # a valid word form, or a word the index knows under another spelling
        return Correction(word, best, automatic=True)
    # Known but rare next to a far more common neighbour: suggest, do not replace.
    if distance == 1 and -neg_df >= max(10 * df, 5) and not _inflected(word, best):
        return Correction(word, best, automatic=False)
    return None
