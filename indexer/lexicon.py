"""The word lexicon's inputs: an article's distinct words, and which words spelling offers."""

from __future__ import annotations

from search import analysis
from search.article import Article


def article_words(article: Article) -> set[str]:
    """Distinct non-stop surface words of an article, for the lexicon."""
    text = " ".join((article.title, article.summary, article.body, article.category, *article.tags))
    return {w for w in analysis.words(text) if w not in analysis.STOP_WORDS}


def spelling_min_df(doc_count: int) -> int:
    """Words rarer than this are not offered as corrections (typos in a big corpus are rare words)."""
    return max(1, doc_count // 10_000)
