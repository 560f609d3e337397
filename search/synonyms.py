"""Query-time synonyms in Solr's file format.

    # comment
    weed, marijuana, cannabis, pot        equivalent: each expands to all the others
    special k, vitamin k => ketamine      one-way: the left side also searches the right

Entries are analyzed with the project analyzer, so "Shrooms" and "shroom" match alike,
and multi-word entries match the same words in sequence. Applied at query time only:
editing the file needs no reindex.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from search import analysis

log = logging.getLogger(__name__)

Terms = tuple[str, ...]


@dataclass(frozen=True)
class Match:
    start: int  # index of the first matched term
    end: int  # one past the last
    expansions: tuple[Terms, ...]


@dataclass
class Synonyms:
    mapping: dict[Terms, list[Terms]] = field(default_factory=dict)
    # The name each line settles on: the first entry of an equivalence, the targets of a
    # one-way line (autocomplete offers these first).
    heads: set[Terms] = field(default_factory=set)
    longest: int = 0
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, source: str = "synonyms") -> "Synonyms":
        synonyms = cls()
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.count("=>") > 1:
                synonyms.errors.append(f"{source}:{number}: more than one '=>'")
                continue
            left, _, right = line.partition("=>")
            sources = [_entry(e) for e in left.split(",")]
            sources = [e for e in sources if e]
            targets = [e for e in (_entry(e) for e in right.split(",")) if e] if right else sources
            if not sources or (right and not targets) or (not right and len(sources) < 2):
                synonyms.errors.append(f"{source}:{number}: needs at least two entries or 'a => b'")
                continue
            synonyms.heads.update(targets if right else sources[:1])
            for entry in sources:
                expansions = synonyms.mapping.setdefault(entry, [])
                expansions.extend(t for t in targets if t != entry and t not in expansions)
                synonyms.longest = max(synonyms.longest, len(entry))
        for error in synonyms.errors:
            log.warning("ignored synonym line %s", error)
        return synonyms

    @classmethod
    def load(cls, path: Path) -> "Synonyms":
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            log.warning("synonyms file %s not found; searching without synonyms", path)
            return cls()
        return cls.parse(text, str(path))

    def matches(self, terms: list[str]) -> list[Match]:
        """Greedy longest matches, left to right, without overlaps."""
        found: list[Match] = []
        position = 0
        while position < len(terms):
            for length in range(min(self.longest, len(terms) - position), 0, -1):
                key = tuple(terms[position:position + length])
                expansions = self.mapping.get(key)
                if expansions:
                    found.append(Match(position, position + length, tuple(expansions)))
                    position += length
                    break
            else:
                position += 1
        return found

    def __len__(self) -> int:
        return len(self.mapping)


def _entry(text: str) -> Terms:
    return tuple(analysis.analyze(text))
