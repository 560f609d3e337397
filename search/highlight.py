"""Highlighted snippets: the words as written in the article, wrapped in <mark>.

Matching is on stems (so "calories" marks "calorie"), but the output shows the original
text, HTML-escaped, with only our own <mark> tags added. The index's lexicon knows which
written words share each stem, so each of those words is looked up with str.find (C
speed) in the accent-folded, lower-cased text and kept where it stands as a whole word;
the rare text whose folding changes its length goes through the analyzer token by token.
"""

from __future__ import annotations

from html import escape
from typing import Iterable, NamedTuple

from search import analysis

ELLIPSIS = "\u2026"
# Snippets are chosen from the start of long bodies; beyond this, scanning costs more than it finds.
SCAN_CHARS = 20_000


class _Match(NamedTuple):
    start: int
    end: int
    term: str


_POSSESSIVES = ("'s", "\u2019s")


class Highlighter:
    def __init__(self, terms: Iterable[str], words: Iterable[str] = ()):
        """`terms`: stems to mark; `words`: written forms known to have those stems."""
        self.terms = frozenset(terms)
        known = {w.lower() for w in words if analysis.stem(w) in self.terms} | self.terms
        self._words = tuple(w for w in known if w)

    def _matches(self, text: str) -> list[_Match]:
        folded = analysis.fold(text)
        lowered = folded.lower()
        if len(lowered) == len(text):
            return self._found(lowered)
        return [_Match(t.start, t.end, t.term) for t in analysis.tokens(text) if t.term in self.terms]

    def _found(self, lowered: str) -> list[_Match]:
        """Whole-word occurrences of the known words (with a possessive 's), leftmost first;
        where two overlap ("don" in "don't"), the earlier and longer one."""
        spans: list[tuple[int, int]] = []
        size = len(lowered)
        for word in self._words:
            start = lowered.find(word)
            while start >= 0:
                end = start + len(word)
                if start == 0 or not lowered[start - 1].isalnum():
                    if lowered.startswith(_POSSESSIVES, end) and (end + 2 == size or not lowered[end + 2].isalnum()):
                        spans.append((start, end + 2))
                    elif end == size or not lowered[end].isalnum():
                        spans.append((start, end))
                start = lowered.find(word, start + 1)
        found: list[_Match] = []
        taken_until = 0
        for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
            if start < taken_until:
                continue
            term = analysis.stem(analysis.surface_form(lowered[start:end]))
            if term in self.terms:
                found.append(_Match(start, end, term))
                taken_until = end
        return found

    def highlight(self, text: str) -> str:
        """The whole text, escaped, with matching words marked."""
        return _render(text, 0, len(text), self._matches(text))

    def snippet(self, text: str, max_chars: int = 220) -> str:
        """The passage of about `max_chars` with the most distinct matching words, marked."""
        truncated = len(text) > SCAN_CHARS
        text = " ".join(text[:SCAN_CHARS].split())  # paragraphs flow into one line
        matches = self._matches(text)
        if len(text) <= max_chars and not truncated:
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
        if end < len(text) or truncated:
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
