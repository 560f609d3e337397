"""Query rules: pin articles for a query, show a banner for matching queries.

    [[rule]]
    name = "crisis"
    match_any = ["overdose", "suicide", "kill myself"]   # words or phrases (analyzed)
    [rule.banner]
    kind = "urgent"                                       # "urgent" or "info"
    title = "If you or someone near you is in danger"
    text = "Call your local emergency number now."
    links = [{ label = "Call 911", href = "tel:911" }]

    [[rule]]
    name = "naloxone guide"
    match_any = ["naloxone"]
    pin = ["naloxone-how-to-respond-to-an-overdose"]

A rule matches when any entry's analyzed terms appear in sequence in the query.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from search import analysis

log = logging.getLogger(__name__)
_SAFE_LINK_PREFIXES = ("https://", "http://", "tel:", "mailto:", "sms:", "/")


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class Link:
    label: str
    href: str


@dataclass(frozen=True)
class Banner:
    rule: str
    kind: str
    title: str
    text: str
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Rule:
    name: str
    patterns: tuple[tuple[str, ...], ...]
    pins: tuple[str, ...] = ()
    banner: Banner | None = None

    def matches(self, terms: list[str]) -> bool:
        for pattern in self.patterns:
            n = len(pattern)
            if any(tuple(terms[i:i + n]) == pattern for i in range(len(terms) - n + 1)):
                return True
        return False


@dataclass
class Rules:
    rules: list[Rule] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, source: str = "rules") -> "Rules":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RulesError(f"{source}: {exc}") from exc
        rules = []
        for number, raw in enumerate(data.get("rule", []), start=1):
            where = f"{source}: rule {number}"
            name = str(raw.get("name") or f"rule {number}")
            match_any = raw.get("match_any")
            if not isinstance(match_any, list) or not match_any:
                raise RulesError(f"{where} ({name}): match_any must be a non-empty list")
            patterns = tuple(p for p in (tuple(analysis.analyze(str(m))) for m in match_any) if p)
            pins = raw.get("pin", [])
            if not isinstance(pins, list):
                raise RulesError(f"{where} ({name}): pin must be a list of article ids")
            rules.append(Rule(name, patterns, tuple(str(p) for p in pins), _banner(raw.get("banner"), name, where)))
        return cls(rules)

    @classmethod
    def load(cls, path: Path) -> "Rules":
        try:
            return cls.parse(path.read_text(encoding="utf-8"), str(path))
        except FileNotFoundError:
            log.warning("rules file %s not found; searching without query rules", path)
            return cls()

    def matching(self, terms: list[str]) -> list[Rule]:
        return [rule for rule in self.rules if rule.matches(terms)]


def _banner(raw: object, name: str, where: str) -> Banner | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw.get("title"):
        raise RulesError(f"{where} ({name}): banner needs at least a title")
    links = []
    for link in raw.get("links", []):
        href = str(link.get("href", ""))
        if not href.startswith(_SAFE_LINK_PREFIXES):
            raise RulesError(f"{where} ({name}): link {href!r} must be http(s), tel:, mailto:, sms: or a path")
        links.append(Link(str(link.get("label") or href), href))
    kind = str(raw.get("kind", "info"))
    if kind not in ("info", "urgent"):
        raise RulesError(f"{where} ({name}): banner kind must be 'info' or 'urgent'")
    return Banner(name, kind, str(raw["title"]), str(raw.get("text", "")), tuple(links))
