"""What a build works out over all its articles' words: the lexicon's words and which of
them spelling offers, each stem's written word, and the terms feedback keeps per article."""

from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Mapping, Sequence

from search import feedback
from search.document import Indexed


def spelling_min_df(doc_count: int) -> int:
    """Words rarer than this are not offered as corrections (typos in a big corpus are rare words)."""
    return max(1, doc_count // 10_000)


def surface_words(words: Mapping[str, int], term_of: Mapping[str, str]) -> dict[str, str]:
    """For each stem, its most common written word (`words`: word -> document frequency):
    explanations show words as written."""
    best: dict[str, tuple[int, str]] = {}
    for word, df in words.items():
        term = term_of[word]
        if term not in best or (df, word) > best[term]:
            best[term] = (df, word)
    return {term: word for term, (_, word) in best.items()}


def feedback_material(indexed: Sequence[Indexed]) -> Callable[[Indexed], tuple[dict[str, int], int]]:
    """An article's strongest terms for feedback, weighed by the build's own idf."""
    frequency = Counter(term for item in indexed for term in set(item.doc.terms))
    count = len(indexed)
    idf = {term: math.log(1 + count / df) for term, df in frequency.items()}  # once per term, not per article
    return lambda item: feedback.article_terms(item.term_counts(), idf.__getitem__)
