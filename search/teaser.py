"""Teasers: the summary, else the first sentences, cut at a word boundary with an ellipsis."""

from __future__ import annotations

import re

from search.article import Article, reading_text

ELLIPSIS = "\u2026"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TRAILING_PUNCTUATION = " ,;:\u2013\u2014-([{\"'"


def teaser_source(article: Article, length: int) -> str:
    if article.summary:
        return article.summary
    text = reading_text(article.body)
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentences.append(sentence)
        if sum(len(s) + 1 for s in sentences) > length:
            break
    return " ".join(sentences)


def cut(text: str, length: int) -> str:
    """At most `length` characters plus an ellipsis, never splitting a word."""
    text = " ".join(text.split())
    if len(text) <= length:
        return text
    space = text.rfind(" ", 0, length + 1)
    if space <= 0:
        # One word longer than the limit: keep the whole word rather than cut it.
        space = text.find(" ")
        if space < 0:
            return text
    return text[:space].rstrip(_TRAILING_PUNCTUATION) + ELLIPSIS


def teaser(article: Article, length: int = 110) -> str:
    return cut(teaser_source(article, length), length)
