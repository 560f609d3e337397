"""What to offer a reader: completions while they type, and the nearest known words when a
search found nothing.

Completions of the last word are ranked: first the names the synonyms file settles on
(its head terms), then its other entries (the site's own vocabulary: "molly" on a
drug-information site), then by how many readers lately searched the word, then by how
many articles use it. Reader counts come in as a `Popularity`, worked out from analytics
by the web layer and refreshed now and then: the core reads no analytics itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping

from search import analysis
from search.spelling import edit_distance
from search.store import Store
from search.synonyms import Synonyms

# Completions of the last word weighed before the best are kept.
COMPLETION_CANDIDATES = 50
# Near terms: how many words of a query are looked at, and the longest word worth it (the
# spelling index only holds words of 3 to 24 letters).
NEAR_WORDS = 8
NEAR_WORD_CHARS = 24
SHORTEST_STEM = 4  # a word cut back to find a known beginning keeps at least this much


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "article" or "query"
    text: str
    id: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Popularity:
    """How many readers lately searched each word and clicked each article."""

    words: Mapping[str, int] = field(default_factory=dict)
    articles: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_counts(cls, queries: Mapping[str, int], articles: Mapping[str, int]) -> "Popularity":
        """From readers per query (a word counts the readers of every query it is in)."""
        words: Counter[str] = Counter()
        for query, readers in queries.items():
            for word in set(analysis.words(query)):
                words[word] += readers
        return cls(dict(words), dict(articles))


def complete(store: Store, synonyms: Synonyms, prefix: str, limit: int, popularity: Popularity,
             link: Callable[[str], str]) -> list[Suggestion]:
    """Titles with the typed words (the last one a prefix), most clicked first, then
    completions of the last word; `link` gives an article id's URL."""
    words = analysis.words(prefix)
    if not words:
        return []
    titles = store.titles_with_prefix(words[-8:], limit * 2)
    # Stable: among equally clicked titles the full-text rank decides.
    titles.sort(key=lambda found: -popularity.articles.get(found[0], 0))
    suggestions = [Suggestion("article", title, article_id, link(article_id)) for article_id, title in titles[:limit]]
    if not prefix.endswith(" "):
        head = prefix[: len(prefix) - len(prefix.split()[-1])] if prefix.split() else ""
        seen = {s.text.lower() for s in suggestions}
        candidates = store.words_with_prefix(words[-1], COMPLETION_CANDIDATES)
        for word, _, _ in sorted(candidates, key=lambda c: _completion_rank(c, synonyms, popularity)):
            text = (head + word).strip()
            if text.lower() not in seen and word != words[-1]:
                suggestions.append(Suggestion("query", text))
                seen.add(text.lower())
    return suggestions[:limit]


def _completion_rank(candidate: tuple[str, str, int], synonyms: Synonyms, popularity: Popularity) -> tuple:
    word, term, df = candidate
    vocabulary = 0 if (term,) in synonyms.heads else 1 if (term,) in synonyms.mapping else 2
    return vocabulary, -popularity.words.get(word, 0), -df, word


def near_terms(store: Store, synonyms: Synonyms, text: str, max_candidates: int) -> list[str]:
    """Known words nearest to the words of a query that found nothing: the closest spelling
    (among the `max_candidates` commonest candidates), the commonest completion of a word cut
    short, the longest known beginning of a word run on ("naloxonekits"), and the head terms
    of synonyms among them."""
    found: dict[str, None] = {}
    for word in analysis.words(text)[:NEAR_WORDS]:
        if analysis.is_stop_word(word) or len(word) > NEAR_WORD_CHARS:
            continue
        for near in (_closest_spelling(store, word, max_candidates), _completion(store, word),
                     _known_beginning(store, word)):
            if near:
                found[near] = None
                found.update(dict.fromkeys(_heads(synonyms, near)))
    return list(found)


def _closest_spelling(store: Store, word: str, max_candidates: int) -> str | None:
    distance = 1 if len(word) < 6 else 2
    scored = [(edit_distance(word, c, distance + 1), -df, c)
              for c, df in store.spelling_candidates(word, distance, max_candidates)]
    scored = [s for s in scored if s[0] <= distance and s[2] != word]
    return min(scored)[2] if scored else None


def _completion(store: Store, word: str) -> str | None:
    completions = store.words_with_prefix(word, 1) if len(word) >= 3 else []
    return completions[0][0] if completions else None


def _known_beginning(store: Store, word: str) -> str | None:
    for end in range(len(word) - 1, SHORTEST_STEM - 1, -1):
        if store.word_frequency(word[:end]):
            return word[:end]
    return None


def _heads(synonyms: Synonyms, word: str) -> list[str]:
    expansions = synonyms.mapping.get((analysis.stem(word),), [])
    return [" ".join(e) for e in expansions if e in synonyms.heads]
