"""Highlighted snippets: the words as written in the article, wrapped in <mark>.

Matching is on stems (so "calories" marks "calorie"), but the output shows the original
text, HTML-escaped, with only our own <mark> tags added. No analysis happens here: the
index's lexicon says which written words have each query stem, and each article's
`SnippetText` (made once, when the article is indexed) holds its reading text as one
line with an accent-folded, lower-cased twin in which those words are found with
str.find (C speed) and kept where they stand as whole words.
"""

from __future__ import annotations

import array
from html import escape
from typing import Mapping, NamedTuple

from search.analysis import fold

ELLIPSIS = "\u2026"
# Snippets are chosen from the start of long bodies; beyond this, reading and scanning the text
# for every hit costs more than it finds (docs/search.md#highlighting-facets-autocomplete).
SCAN_CHARS = 12_000
_POSSESSIVES = ("'s", "\u2019s")
# Occurrences of one word weighed for the passage: the first ones say where the article
# talks about it; a word repeated a hundred times would only cost time.
OCCURRENCES_WEIGHED = 24


class SnippetText(NamedTuple):
    """An article's reading text prepared for snippets, once, when it is indexed."""

    text: str  # one line, at most SCAN_CHARS characters
    lowered: str  # fold(text).lower(): where words are looked for
    offsets: bytes = b""  # when folding changed the length: text offset of each lowered character
    truncated: bool = False  # the article goes on after `text`

    @classmethod
    def of(cls, reading_text: str) -> "SnippetText":
        truncated = len(reading_text) > SCAN_CHARS
        text = " ".join(reading_text[:SCAN_CHARS].split())  # paragraphs flow into one line
        return cls(text, *_lowered(text), truncated)

    @classmethod
    def whole(cls, text: str) -> "SnippetText":
        """A short text (a title) as it is, to be highlighted whole."""
        return cls(text, *_lowered(text))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """A span of `lowered` as a span of `text`."""
        if not self.offsets:
            return start, end
        offsets = array.array("I", self.offsets)
        return offsets[start], offsets[end - 1] + 1


def _lowered(text: str) -> tuple[str, bytes]:
    lowered = fold(text).lower()
    if len(lowered) == len(text):
        return lowered, b""
    # Rare (ligatures, compatibility forms): fold character by character to map offsets back.
    parts: list[str] = []
    offsets = array.array("I")
    for index, char in enumerate(text):
        folded = fold(char).lower()
        parts.append(folded)
        offsets.extend([index] * len(folded))
    return "".join(parts), offsets.tobytes()


class _Match(NamedTuple):
    start: int
    end: int
    term: str


class Highlighter:
    def __init__(self, words: Mapping[str, str]):
        """`words`: each written form (folded, lower-case) of the query's stems -> its stem."""
        self.words = {word: term for word, term in words.items() if word}

    def _found(self, lowered: str) -> list[_Match]:
        """Whole-word occurrences of the known words (with a possessive 's), leftmost first;
        where two overlap ("don" in "don't"), the earlier and longer one."""
        spans: list[tuple[int, int, str]] = []
        size = len(lowered)
        for word, term in self.words.items():
            start, seen = lowered.find(word), 0
            while start >= 0 and seen < OCCURRENCES_WEIGHED:
                seen += 1
                end = start + len(word)
                if start == 0 or not lowered[start - 1].isalnum():
                    if lowered.startswith(_POSSESSIVES, end) and (end + 2 == size or not lowered[end + 2].isalnum()):
                        spans.append((start, end + 2, term))
                    elif end == size or not lowered[end].isalnum():
                        spans.append((start, end, term))
                start = lowered.find(word, start + 1)
        found: list[_Match] = []
        taken_until = 0
        for start, end, term in sorted(spans, key=lambda span: (span[0], -span[1])):
            if start >= taken_until:
                found.append(_Match(start, end, term))
                taken_until = end
        return found

    def highlight(self, source: SnippetText) -> str:
        """The whole text (a title), escaped, with matching words marked."""
        return self.snippet(source, max_chars=len(source.text) or 1)

    def snippet(self, source: SnippetText, max_chars: int = 220) -> str:
        """The passage of about `max_chars` with the most distinct matching words, marked."""
        text = source.text
        matches = [_Match(*source.span(m.start, m.end), m.term) for m in self._found(source.lowered)]
        if len(text) <= max_chars and not source.truncated:
            return _render(text, 0, len(text), matches)
        start = _best_window(matches, max_chars) if matches else 0
        if start > 0:
            # Start a little before the first match, at a word boundary, for context.
            start = max(0, start - max_chars // 5)
            space = text.rfind(" ", 0, start)
            start = space + 1 if space >= 0 else 0
        end = min(len(text), start + max_chars)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > start else end
        body = _render(text, start, end, matches)
        if end < len(text) or source.truncated:
            body = body.rstrip(" .,;:") + ELLIPSIS
        return (ELLIPSIS if start > 0 else "") + body


def _best_window(matches: list[_Match], width: int) -> int:
    best_start, best_score = matches[0].start, 0
    for i, first in enumerate(matches):
        seen = {first.term}
        for later in matches[i + 1:]:
            if later.end - first.start > width:
                break
            seen.add(later.term)
        if len(seen) > best_score:
            best_start, best_score = first.start, len(seen)
    return best_start


def _render(text: str, start: int, end: int, matches: list[_Match]) -> str:
    out: list[str] = []
    cursor = start
    for match in matches:
        if match.start < start or match.end > end:
            continue
        out.append(escape(text[cursor:match.start]))
        out.append(f"<mark>{escape(text[match.start:match.end])}</mark>")
        cursor = match.end
    out.append(escape(text[cursor:end]))
    return "".join(out).strip()
