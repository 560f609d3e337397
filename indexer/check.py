"""`kindred check`: do the current version's store, engine and manifest and the journal agree?

Read-only. It names every disagreement: writes left pending by a failure or a kill, ids
in the engine but not the store (or the reverse), a stale manifest count, journal changes
the store does not reflect, articles without their related list, vectors or neighbours,
lists naming missing articles, and lexicon counts that differ from the articles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from indexer.journal import Journal
from search.analysis import WordMemory
from search.config import Settings
from search.document import analyze_article
from search.engines import open_engine
from search.store import STORE_FILE, Store
from search.versions import Layout, naming_broken_part, read_manifest

SHOWN = 5  # ids quoted per problem


@dataclass
class CheckReport:
    version: str = ""
    articles: int = 0
    problems: list[str] = field(default_factory=list)


def check_index(settings: Settings) -> CheckReport:
    layout = Layout(settings.resolve(settings.index_dir))
    journal = Journal(layout.journal)
    report = CheckReport(version=layout.current_name() or "")
    for batch in journal.pending():
        report.problems.append(
            f"journal: a write of {len(batch.ids)} articles (changes {batch.first}-{batch.last}) was interrupted and "
            "is not resolved; the next write or build resolves it, or `kindred check --repair`")
    version = layout.current_dir()
    manifest = read_manifest(version)
    with naming_broken_part(version / "engine"):
        engine = open_engine(manifest["engine"], version / "engine")
        try:
            engine_ids = engine.ids()
        finally:
            engine.close()
    store = Store(version / STORE_FILE)
    try:
        with naming_broken_part(version / STORE_FILE), store.snapshot():
            ids = set(store.article_ids())
            report.articles = len(ids)
            _compare("engine", engine_ids, "store", ids, report.problems)
            if manifest.get("doc_count") != len(ids):
                report.problems.append(f"manifest: doc_count is {manifest.get('doc_count')}, the store has {len(ids)}")
            _check_journal(journal, store, report.problems)
            _check_related(store, ids, report.problems)
            _check_lexicon(store, report.problems)
    finally:
        store.close()
    return report


def _quoted(ids) -> str:
    ids = sorted(ids)
    more = f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return ", ".join(map(repr, ids[:SHOWN])) + more


def _compare(name: str, found: set[str], against_name: str, against: set[str], problems: list[str]) -> None:
    if found - against:
        problems.append(f"{name}: {len(found - against)} articles the {against_name} lacks: {_quoted(found - against)}")
    if against - found:
        problems.append(f"{name}: lacks {len(against - found)} articles of the {against_name}: {_quoted(against - found)}")


def _check_journal(journal: Journal, store: Store, problems: list[str]) -> None:
    """Every committed change up to the store's journal position is what the store holds."""
    position = int(store.meta("journal_seq", 0))
    changes = journal.changes(upto=position)
    stored = store.articles(article_id for _, article_id, _ in changes)
    differ = [i for _, i, a in changes if (a is None) != (i not in stored)
              or (a is not None and stored[i].to_dict() != a.to_dict())]
    if differ:
        problems.append(f"journal: {len(differ)} changes the store does not hold as written: {_quoted(differ)}")
    later = journal.changes(after=position)
    if later:
        problems.append(f"journal: {len(later)} committed changes after the store's position {position}: "
                        f"{_quoted(i for _, i, _ in later)}")


def _check_related(store: Store, ids: set[str], problems: list[str]) -> None:
    _compare("related lists", store.related_sources(), "store", ids, problems)
    _compare("related vectors", {row[0] for row in store.related_vectors()}, "store", ids, problems)
    _compare("related neighbours", set(store.related_candidates(ids)), "store", ids, problems)
    bad = []
    for source in ids:
        targets = [e.id for e in store.related(source) or []]
        if source in targets or len(set(targets)) != len(targets) or not set(targets) <= ids:
            bad.append(source)
    if bad:
        problems.append(f"related lists: {len(bad)} list themselves, an article twice or a missing article: "
                        f"{_quoted(bad)}")


def _check_lexicon(store: Store, problems: list[str]) -> None:
    memory = WordMemory()
    counted = Counter(w for article in store.iter_articles() for w in analyze_article(article, memory=memory).words)
    term_of = memory.terms()
    lexicon = store.lexicon()
    wrong = {w for w in counted.keys() | lexicon.keys() if lexicon.get(w) != (term_of.get(w), counted[w])}
    if wrong:
        problems.append(f"lexicon: {len(wrong)} words whose count differs from the articles': {_quoted(wrong)}")
