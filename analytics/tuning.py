"""What a site's own readers teach its search (`kindred tune --from-analytics`, the dashboard):

- a **synonym** when sessions search words that find nothing and then other words that find
  results: "the words that failed => the words that worked";
- a **pin** when sessions keep clicking the same article far down one query's results.

These are proposals only: nothing changes until an editor accepts one (analytics.site_files).
One round reads at most `max_events` of the latest searches and as many result clicks, and
ranks by evidence (sessions), then clicks, then text, so the same events give the same list.
Queries are grouped by their analyzed terms, as search sees them; proposals that the site's
synonyms or rules already hold are left out.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable

from analytics.databases import EventDatabases, open_events
from analytics.privacy import MARKS
from analytics.recorder import period_start
from search import analysis
from search.config import Settings
from search.rules import Rules, RulesError
from search.synonyms import Synonyms

Terms = tuple[str, ...]


@dataclass(frozen=True)
class SynonymProposal:
    words: str  # what readers searched and found nothing for
    answer: str  # what they searched next in the same session, and found
    sessions: int  # sessions that did so
    clicked: int  # of those, sessions that clicked a result of `answer`

    @property
    def line(self) -> str:
        """The line for the synonyms file: one-way, so `answer` never expands to `words`."""
        return f"{self.words} => {self.answer}"


@dataclass(frozen=True)
class PinProposal:
    query: str
    article: str  # the article readers clicked far down the query's results
    sessions: int  # sessions (readers, for clicks without a session) that clicked it there
    mean_position: float


@dataclass(frozen=True)
class Proposals:
    synonyms: tuple[SynonymProposal, ...]
    pins: tuple[PinProposal, ...]
    searches_read: int
    clicks_read: int
    capped: bool  # the period held more events than one round reads: the latest were read
    warnings: tuple[str, ...] = ()  # databases left out (lenient reading)

    def synonym(self, words: str, answer: str) -> SynonymProposal | None:
        return next((p for p in self.synonyms if (p.words, p.answer) == (words, answer)), None)

    def pin(self, query: str, article: str) -> PinProposal | None:
        return next((p for p in self.pins if (p.query, p.article) == (query, article)), None)


@dataclass(frozen=True)
class Thresholds:
    min_sessions: int  # evidence a proposal needs
    min_position: int  # a click this far down counts towards a pin
    max_events: int  # searches, and clicks, read per round

    @classmethod
    def from_settings(cls, settings: Settings) -> "Thresholds":
        return cls(settings.analytics_tune_min_sessions, settings.analytics_tune_min_position,
                   settings.analytics_tune_max_events)


def site_proposals(settings: Settings, databases: EventDatabases, days: int, limit: int = 20,
                   strict: bool = True) -> Proposals:
    """Proposals from `databases`, leaving out what the site's synonyms and rules files hold."""
    try:
        rules = Rules.load(settings.resolve(settings.rules))
    except RulesError:  # proposed anyway; accepting a pin says what is wrong with the file
        rules = Rules()
    synonyms = Synonyms.load(settings.resolve(settings.synonyms))
    with open_events(databases, strict) as events:
        proposals = propose(events.conn, days, Thresholds.from_settings(settings), synonyms, rules, limit)
    return dataclasses.replace(proposals, warnings=tuple(events.warnings))


def propose(conn: sqlite3.Connection, days: int, thresholds: Thresholds, synonyms: Synonyms, rules: Rules,
            limit: int = 20) -> Proposals:
    """Proposals from the events of the last `days` (the union views of analytics.databases)."""
    since = period_start(days)
    cap = thresholds.max_events
    searches = conn.execute("""
        SELECT session, query, results FROM searches
        WHERE at >= ? AND session IS NOT NULL AND query != ''
        ORDER BY at DESC, session, query, results LIMIT ?""", (since, cap + 1)).fetchall()
    clicks = conn.execute("""
        SELECT coalesce(session, reader), query, target, position FROM clicks
        WHERE at >= ? AND kind = 'result' AND query IS NOT NULL
        ORDER BY at DESC, 1, query, target, position LIMIT ?""", (since, cap + 1)).fetchall()
    capped = len(searches) > cap or len(clicks) > cap
    searches, clicks = searches[:cap][::-1], clicks[:cap][::-1]  # oldest first
    texts = _Texts()
    found = _synonyms(searches, clicks, texts, synonyms, thresholds.min_sessions)
    pins = _pins(clicks, texts, rules, thresholds)
    return Proposals(tuple(found[:limit]), tuple(pins[:limit]), len(searches), len(clicks), capped)


class _Texts:
    """Each query's analyzed terms (worked out once per query text), and the wording readers
    used most for each, counted over the uses that mattered."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Terms, str]] = {}
        self._wordings: defaultdict[Terms, Counter[str]] = defaultdict(Counter)

    def terms(self, query: str) -> Terms:
        """The query's terms; none for a query with privacy marks (they are not words typed)."""
        if query not in self._seen:
            terms: Terms = () if any(mark in query for mark in MARKS) else tuple(analysis.analyze(query))
            # The words as typed, lower-cased, without punctuation or query syntax.
            self._seen[query] = terms, " ".join(m.group().lower() for m in analysis.word_matches(query))
        terms, wording = self._seen[query]
        if terms:
            self._wordings[terms][wording] += 1
        return terms

    def wording(self, terms: Terms) -> str:
        return min(self._wordings[terms].items(), key=lambda item: (-item[1], item[0]))[0]


def _synonyms(searches: list[tuple], clicks: list[tuple], texts: _Texts, synonyms: Synonyms,
              min_sessions: int) -> list[SynonymProposal]:
    visits: defaultdict[str, list[tuple[str, int]]] = defaultdict(list)
    for session, query, results in searches:
        visits[session].append((query, results))
    evidence: defaultdict[tuple[Terms, Terms], set[str]] = defaultdict(set)
    for session, searched in visits.items():
        answer = None  # the session's next search that found something, walking backwards
        for query, results in reversed(searched):
            if results:
                answer = query
            elif answer is not None:  # only misses and what answered them are analyzed
                words, found = texts.terms(query), texts.terms(answer)
                if words and found and words != found:
                    evidence[(words, found)].add(session)
    strong = {pair: sessions for pair, sessions in evidence.items()
              if len(sessions) >= min_sessions and pair[1] not in synonyms.mapping.get(pair[0], ())}
    involved = set().union(*strong.values())
    clicked = {(who, texts.terms(query)) for who, query, _, _ in clicks if who in involved}
    found = [SynonymProposal(texts.wording(words), texts.wording(answer), len(sessions),
                             sum((s, answer) in clicked for s in sessions))
             for (words, answer), sessions in strong.items()]
    return sorted(found, key=lambda p: (-p.sessions, -p.clicked, p.words, p.answer))


def _pins(clicks: Iterable[tuple], texts: _Texts, rules: Rules, thresholds: Thresholds) -> list[PinProposal]:
    deep: defaultdict[tuple[Terms, str], dict[str, int]] = defaultdict(dict)  # who -> deepest position
    for who, query, target, position in clicks:
        if who and position >= thresholds.min_position and (terms := texts.terms(query)):
            seen = deep[(terms, target)]
            seen[who] = max(position, seen.get(who, 0))
    found = [PinProposal(texts.wording(terms), target, len(who), round(sum(who.values()) / len(who), 1))
             for (terms, target), who in deep.items()
             if len(who) >= thresholds.min_sessions
             and not any(target in rule.pins for rule in rules.matching(list(terms)))]
    return sorted(found, key=lambda p: (-p.sessions, -p.mean_position, p.query, p.article))
