"""From a parsed query to an EngineQuery: analysis, spelling, synonyms, prefixes, pruning.

This is where the query language is interpreted, once, for every engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Protocol

from search import analysis
from search.caches import MISSING, BoundedCache
from search.deadline import Deadline, check
from search.engine import Alternative, Concept, EngineQuery, PhraseQuery, TermQuery, bm25_idf
from search.framing import strip_framing
from search.query import ParsedQuery
from search.spelling import Correction, checkable, correct
from search.synonyms import Synonyms

PREFIX_EXPANSIONS = 30
# Short queries get misspellings replaced; in a long question one unknown word is better
# left alone ("remote stations" must not become "remote nations"), only suggested.
AUTO_CORRECT_MAX_WORDS = 3


class Vocabulary(Protocol):
    """What the planner needs to know about the index's words (the store provides it)."""

    def word_frequency(self, word: str) -> int: ...

    def spelling_candidates(self, word: str, distance: int, limit: int) -> list[tuple[str, int]]: ...

    def words_with_prefix(self, prefix: str, limit: int) -> list[tuple[str, str, int]]: ...


@dataclass(frozen=True)
class Tuning:
    synonym_weight: float  # an expansion counts a little less than the reader's own word
    max_terms: int  # long questions keep their most discriminative terms...
    max_postings: int  # ...and only as many common ones as this budget of postings allows
    spelling_max_words: int  # words of one query looked up for spelling
    spelling_max_candidates: int  # known words weighed as corrections of one word
    rare_word_emphasis: float  # in a long query, each word's weight grows with its idf to this power...
    long_query_terms: int  # ...once the query has this many words (concepts) after pruning

    @classmethod
    def from_settings(cls, settings) -> "Tuning":
        return cls(synonym_weight=settings.search_synonym_weight, max_terms=settings.search_max_terms,
                   max_postings=settings.search_max_postings, spelling_max_words=settings.search_spelling_max_words,
                   spelling_max_candidates=settings.search_spelling_max_candidates,
                   rare_word_emphasis=settings.search_rare_word_emphasis,
                   long_query_terms=settings.search_long_query_terms)


@dataclass(frozen=True)
class Plan:
    query: EngineQuery
    highlight: frozenset[str]  # stems to mark in titles and snippets
    terms: tuple[str, ...]  # the reader's own analyzed words (rules match on these)
    corrected: str | None = None  # the query as searched, when a misspelling was replaced
    suggestion: str | None = None  # "did you mean", when a rare word has a common neighbour
    pairs: tuple[tuple[str, str], ...] = ()  # the reader's adjacent words (stems), for proximity re-ranking


def _alternative(terms: tuple[str, ...], boost: float = 1.0) -> Alternative:
    return TermQuery(terms[0], boost) if len(terms) == 1 else PhraseQuery(terms, boost)


def _phrase_concept(text: str) -> Concept | None:
    terms = tuple(analysis.analyze(text))
    return Concept((_alternative(terms),)) if terms else None


def _replace_words(text: str, corrections: list[Correction]) -> str:
    for c in corrections:
        text = re.sub(rf"(?<!\w){re.escape(c.word)}(?!\w)", c.replacement, text, flags=re.IGNORECASE)
    return text


class Planner:
    def __init__(self, synonyms: Synonyms, vocabulary: Vocabulary, doc_frequency: Callable[[str], int],
                 doc_count: int, tuning: Tuning, corrections: BoundedCache):
        """`corrections`: a cache of spelling results for this vocabulary, kept by the caller
        as long as the vocabulary stays the same."""
        self.synonyms = synonyms
        self.vocabulary = vocabulary
        self.doc_frequency = doc_frequency
        self.doc_count = max(doc_count, 1)
        self.tuning = tuning
        self._corrections = corrections

    def plan(self, text: str, parsed: ParsedQuery, *, sort: str = "relevance", offset: int = 0, limit: int = 10,
             facets: bool = False, spelling: bool = True, suggest: bool = True,
             deadline: Deadline | None = None) -> Plan:
        """`spelling`: correct misspelt words of short queries; `suggest`: also look for a "did
        you mean" in any query (ranking alone needs none, and a search asks only when its first
        pass finds few results); only the first `spelling_max_words` words are looked up."""
        surfaces = [w for w in analysis.words(strip_framing(" ".join(parsed.words))) if not analysis.is_stop_word(w)]
        automatic: list[Correction] = []
        suggested: list[Correction] = []
        short = len(surfaces) <= AUTO_CORRECT_MAX_WORDS
        if spelling and (short or suggest):
            for index, word in enumerate(surfaces[: self.tuning.spelling_max_words]):
                check(deadline)
                found = self._correct(word, suggest)
                if found and found.automatic and short:
                    surfaces[index] = found.replacement
                    automatic.append(found)
                elif found:
                    suggested.append(found)
        stems = [analysis.stem(w) for w in surfaces]

        should = self._word_concepts(stems) + self._prefix_concepts(parsed.prefixes)
        should = self._prune(should)
        should = emphasize_rare(should, self.doc_frequency, self.doc_count, self.tuning.rare_word_emphasis,
                                self.tuning.long_query_terms)
        pairs = adjacent_pairs(stems, {t for c in should for t in _terms(c)})
        must = tuple(c for c in map(_phrase_concept, parsed.phrases) if c)
        must_not = tuple(c for c in map(_phrase_concept, parsed.excluded) if c)

        highlight: set[str] = set()
        for concept in (*should, *must):
            for alt in concept.alternatives:
                highlight.update((alt.term,) if isinstance(alt, TermQuery) else alt.terms)
        query = EngineQuery(
            should=tuple(should), must=must, must_not=must_not,
            categories=parsed.categories, tags=parsed.tags,
            not_categories=parsed.not_categories, not_tags=parsed.not_tags,
            sort="date" if sort == "date" or not (should or must) else "relevance",
            offset=offset, limit=limit, facets=facets,
        )
        return Plan(
            query=query,
            highlight=frozenset(highlight),
            terms=tuple(stems) + tuple(t for p in parsed.phrases for t in analysis.analyze(p)),
            corrected=_replace_words(text, automatic) if automatic else None,
            suggestion=_replace_words(text, suggested) if suggested else None,
            pairs=pairs,
        )

    def _correct(self, word: str, suggest: bool) -> Correction | None:
        """A correction of `word`; without `suggest`, only of a word the index does not know
        (a known word's "did you mean" is looked for when the first pass finds few results)."""
        if not checkable(word):
            return None  # not cached: the verdict costs nothing
        found = self._corrections.get(word, MISSING)
        if found is MISSING and not suggest and self.vocabulary.word_frequency(word) > 0:
            return None
        if found is MISSING:
            found = correct(word, self.vocabulary.word_frequency, self._candidates, self._term_known)
            self._corrections.put(word, found)
        return found

    def _candidates(self, word: str, distance: int) -> list[tuple[str, int]]:
        return self.vocabulary.spelling_candidates(word, distance, self.tuning.spelling_max_candidates)

    def _term_known(self, term: str) -> bool:
        return self.doc_frequency(term) > 0

    def _word_concepts(self, stems: list[str]) -> list[Concept]:
        weight = self.tuning.synonym_weight
        matches = {m.start: m for m in self.synonyms.matches(stems)}
        concepts: dict[tuple, Concept] = {}
        index = 0
        while index < len(stems):
            match = matches.get(index)
            end = match.end if match else index + 1
            own = tuple(stems[index:end])
            alternatives = [_alternative(own)]
            if match:
                alternatives += [_alternative(e, weight) for e in match.expansions]
            key = tuple(alternatives)
            previous = concepts.get(key)
            # A word the reader repeats counts more (query term frequency).
            concepts[key] = Concept(key, previous.weight + 1.0 if previous else 1.0)
            index = end
        return list(concepts.values())

    def _prefix_concepts(self, prefixes: tuple[str, ...]) -> list[Concept]:
        concepts = []
        for prefix in prefixes:
            words = analysis.words(prefix)
            if not words:
                continue
            *leading, last = words
            completions = self.vocabulary.words_with_prefix(last, PREFIX_EXPANSIONS)
            terms = tuple(dict.fromkeys(term for _, term, _ in completions)) or (analysis.stem(last),)
            # Leading words of a multi-word prefix ("opioid use dis*") are plain words.
            concepts.extend(Concept((TermQuery(analysis.stem(w)),)) for w in leading if not analysis.is_stop_word(w))
            concepts.append(Concept(tuple(TermQuery(t) for t in terms)))
        return concepts

    def _prune(self, concepts: list[Concept]) -> list[Concept]:
        return prune(concepts, self.doc_frequency, self.doc_count, self.tuning.max_terms, self.tuning.max_postings)


MIN_KEPT = 3


def adjacent_pairs(stems: list[str], kept: set[str]) -> tuple[tuple[str, str], ...]:
    """Each distinct pair of words the reader typed next to each other (stop words between
    them do not count, as in the index), both still in the query after pruning."""
    pairs = ((a, b) for a, b in zip(stems, stems[1:]) if a != b and a in kept and b in kept)
    return tuple(dict.fromkeys(pairs))


def _terms(concept: Concept) -> list[str]:
    return [t for alt in concept.alternatives for t in ((alt.term,) if isinstance(alt, TermQuery) else alt.terms)]


def main_term(concept: Concept) -> str:
    alt = concept.alternatives[0]
    return alt.term if isinstance(alt, TermQuery) else max(alt.terms, key=len)


def emphasize_rare(concepts: list[Concept], doc_frequency: Callable[[str], int], doc_count: int, power: float,
                   min_terms: int) -> list[Concept]:
    """In a long query, weigh each concept by its idf to `power` (relative to the query's mean).

    A description or a copied sentence names its topic with a few rare words among common
    ones, and BM25's idf alone lets the common ones add up. A short query's words are all
    chosen, so it is left as typed. The mean weight is kept, so proximity and feedback keep their scale."""
    if power <= 0 or len(concepts) < max(min_terms, 2):
        return concepts
    factors = [max(bm25_idf(doc_frequency(main_term(c)), doc_count), 1e-3) ** power for c in concepts]
    mean = sum(factors) / len(factors)
    return [Concept(c.alternatives, c.weight * f / mean) for c, f in zip(concepts, factors)]


def prune(concepts: list[Concept], doc_frequency: Callable[[str], int], doc_count: int, max_terms: int,
          max_postings: int) -> list[Concept]:
    """Keep a long question's most discriminative concepts within a cost budget.

    Concepts are taken in order of weight x idf; each costs the postings its terms walk
    (their document frequencies). Rare words are both the most telling and the cheapest,
    so on a small index everything fits and on a large one the common words go first."""
    if len(concepts) <= MIN_KEPT:
        return concepts
    frequencies = {t: doc_frequency(t) for c in concepts for t in _terms(c)}

    def value(concept: Concept) -> float:
        return concept.weight * concept.alternatives[0].boost * bm25_idf(frequencies[main_term(concept)], doc_count)

    keep: set[int] = set()
    spent = 0
    for index in sorted(range(len(concepts)), key=lambda i: -value(concepts[i])):
        cost = sum(frequencies[t] for t in _terms(concepts[index]))
        if len(keep) >= max_terms:
            break
        if len(keep) >= MIN_KEPT and spent + cost > max_postings:
            continue
        keep.add(index)
        spent += cost
    return [c for i, c in enumerate(concepts) if i in keep]
