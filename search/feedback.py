"""Pseudo-relevance feedback: words common to the first results expand a question.

A Rocchio/RM3-style step that works with any engine: the top documents of a first pass
give a word distribution (each document weighted by its score relative to the best one,
raised to a power: `focus`, then each word by idf); the strongest new
words that at least MIN_SUPPORT of those documents share join the query. Together they
weigh as much as `words` of the query's own words (on average), a fixed worth rather than
a share of the query: the longer a question, the more it has said itself and the less the
added words steer it (measured on seven judged collections: a fixed share helped one and
cost the others; docs/search.md). Requiring support keeps one odd document from steering
the query. The added words re-rank the first pass's top results (the engine scores just
those documents). Questions use it, not one- or two-word lookups.

Why a focus: RM3 weighs a document by the query's likelihood under it, which falls off
steeply below the best match, while BM25 scores of the top ten are close (the tenth often
scores 60 % of the first). Weighted by score alone, the tenth result steered the query almost
as much as the first, and where one or two articles are relevant, the words of the
near-misses pulled them down (docs/search.md has the measurements).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from typing import Callable, Mapping, Sequence

from search.engine import Concept, EngineQuery, TermQuery
from search.planner import main_term

MIN_SUPPORT = 2
# Terms kept per article for feedback, the strongest by count x idf, beside its whole length:
# what the expansion picks comes from the top of each article's distribution (128 kept gave
# nDCG@10 within 0.0013 of every term on each judged collection; 64, within 0.004).
ARTICLE_TERMS_KEPT = 128


def article_terms(counts: Counter[str], idf: Callable[[str], float]) -> tuple[dict[str, int], int]:
    """An article's strongest weighted terms (made when it is indexed) and its length."""
    strongest = heapq.nlargest(ARTICLE_TERMS_KEPT, counts.items(), key=lambda item: (item[1] * idf(item[0]), item[0]))
    return dict(strongest), sum(counts.values())


def _query_terms(query: EngineQuery) -> set[str]:
    terms: set[str] = set()
    for concept in query.should + query.must:
        for alt in concept.alternatives:
            terms.update((alt.term,) if isinstance(alt, TermQuery) else alt.terms)
    return terms


def _mass(concept: Concept, idf: Callable[[str], float], known: Callable[[str], bool]) -> float:
    """A concept's share of the query's scoring mass (words the index lacks score nothing)."""
    term = main_term(concept)
    return concept.weight * concept.alternatives[0].boost * idf(term) if known(term) else 0.0


def document_weights(scores: Sequence[float], focus: float) -> list[float]:
    """Each document's share of the feedback: its score relative to the best, to the power
    `focus` (0: all alike; 1: in proportion to the scores), summing to 1."""
    best = max(scores, default=0.0)
    if best <= 0:
        return [0.0] * len(scores)
    raw = [(max(score, 0.0) / best) ** focus for score in scores]
    total = sum(raw)
    return [share / total for share in raw]


def expansion(query: EngineQuery, documents: Sequence[tuple[Mapping[str, int], int, float]],
              idf: Callable[[str], float], known: Callable[[str], bool], terms: int, words: float,
              focus: float) -> tuple[Concept, ...]:
    """Up to `terms` feedback words (as concepts on the query's own score scale) from the
    (strongest term counts, length, score) of its top documents (`article_terms`), each
    document weighing `document_weights(..., focus)`."""
    if not documents or terms <= 0 or words <= 0 or not query.should:
        return ()
    weights = document_weights([score for _, _, score in documents], focus)
    if not any(weights):
        return ()
    distribution: dict[str, float] = defaultdict(float)
    support: Counter[str] = Counter()
    for (counts, length, _), weight in zip(documents, weights):
        length = length or 1
        support.update(counts.keys())
        for term, n in counts.items():
            distribution[term] += weight * n / length
    present = _query_terms(query)
    needed = min(MIN_SUPPORT, len(documents))
    scored = sorted(
        ((p * idf(t), t) for t, p in distribution.items() if t not in present and support[t] >= needed),
        reverse=True,
    )[:terms]
    scored = [(s, t) for s, t in scored if s > 0]
    feedback_mass = sum(s for s, _ in scored)
    query_mass = sum(_mass(c, idf, known) for c in query.should)
    if not scored or feedback_mass <= 0 or query_mass <= 0:
        return ()
    # The added words weigh `words` times the query's average concept. Engines multiply
    # each boost by the term's idf; divide it out so each carries exactly its share.
    ratio = words * (query_mass / len(query.should)) / feedback_mass
    return tuple(Concept((TermQuery(t, 1.0),), ratio * s / idf(t)) for s, t in scored)
