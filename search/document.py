"""An article analyzed once, when it is indexed: all that later steps need of its text.

One pass of the analyzer over the article's parts gives the weighted terms the engine and
the related model index, the written words the lexicon counts, the term counts pseudo-
relevance feedback reads and the one-line text snippets are cut from. Nothing on the query
path analyzes an article again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from operator import itemgetter
from typing import Mapping

from search.analysis import STOP_WORDS, WordMemory
from search.article import Article, reading_text
from search.config import Settings
from search.highlight import SnippetText

PARTS = ("title", "labels", "summary", "body")
_surface = itemgetter(0)
_term = itemgetter(1)


@dataclass(frozen=True, slots=True)
class IndexDoc:
    """What every engine indexes of an article; the TF-IDF model sees the same terms."""

    id: str
    terms: list[str]  # weighted content terms: each part's terms repeated by its weight
    category: str  # category key ('' when none)
    tags: tuple[str, ...]  # tag keys
    published: int  # proleptic ordinal of the date, 0 when unknown

    @classmethod
    def from_article(cls, article: Article, weights: Mapping[str, int] | None = None) -> "IndexDoc":
        return analyze_article(article, weights).doc

    def term_counts(self) -> Counter[str]:
        return Counter(self.terms)


@dataclass(frozen=True, slots=True)
class Indexed:
    """An article with everything its indexing works out from its text."""

    article: Article
    doc: IndexDoc
    words: frozenset[str]  # distinct written words (folded, lower-case), stop words left out
    snippet: SnippetText
    title: SnippetText  # the title, ready to be highlighted whole

    def term_counts(self) -> Counter[str]:
        return Counter(self.doc.terms)


def analyze_article(article: Article, weights: Mapping[str, int] | None = None,
                    memory: WordMemory | None = None) -> Indexed:
    """`weights`: each part's repeat count (setting field_weights); `memory`: a build's
    WordMemory (a fresh one analyzes a lone article)."""
    weights = Settings().field_weights if weights is None else weights
    memory = WordMemory() if memory is None else memory
    labels = " ".join([article.category, *article.tags])
    texts = {"title": article.title, "labels": labels, "summary": article.summary, "body": article.body}
    terms: list[str] = []
    written: set[str] = set()
    for part in PARTS:
        text = texts[part]
        if not text:
            continue
        pairs = memory.pairs(text)
        written.update(map(_surface, pairs))
        weight = weights.get(part, 1)
        if weight > 0:
            found = list(filter(None, map(_term, pairs)))
            terms.extend(found * weight if weight != 1 else found)
    written -= STOP_WORDS
    written.discard("")
    doc = IndexDoc(
        id=article.id,
        terms=terms,
        category=article.category_key,
        tags=article.tag_keys,
        published=article.published.toordinal() if article.published else 0,
    )
    snippet = SnippetText.of(reading_text(article.body) or article.summary)
    return Indexed(article, doc, frozenset(written), snippet, SnippetText.whole(article.title))
