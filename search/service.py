"""The read side: one SearchService per process owns the open index version.

It opens `current` once, reuses the engine searcher and store connection for every
request, notices a new version (the `current` pointer moved) or an incremental write
(the store's data_version changed) and switches over between requests. Results are
cached per index state, so a change never serves stale results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from search.article import Article, reading_text, slugify
from search.config import Settings
from search import analysis, feedback
from search.caches import BoundedCache
from search.deadline import Deadline, check
from search.engine import (Concept, Engine, EngineHit, EngineQuery, EngineResults, IndexDoc, PhraseQuery, Ranking,
                           bm25_idf, open_engine)
from search.highlight import Highlighter
from search.planner import Plan, Planner, Tuning
from search.query import ParsedQuery, clean, parse
from search.rules import Banner, Rules
from search.store import STORE_FILE, RelatedEntry, Store
from search.suggest import Popularity, Suggestion, complete, near_terms
from search.synonyms import Synonyms
from search.teaser import teaser
from search.versions import BrokenIndex, Layout, naming_broken_part, read_manifest

log = logging.getLogger(__name__)

FEW_RESULTS = 3  # below this, a "did you mean" correction is searched automatically
RERANK_POOL = 50  # proximity and pseudo-relevance feedback re-rank this many first-pass results
# What the open version works out on demand is kept within these bounds (entries; for
# feedback's article terms, distinct terms summed over the articles kept).
CORRECTIONS_CACHED = 20_000
DOC_FREQUENCIES_CACHED = 50_000
TERM_COUNTS_CACHED = 200_000
# A longer term's document frequency is looked up each time: a cheap look-up, while caching
# it could hold a kilobyte per entry.
LONGEST_CACHED_TERM = 64
CONFIG_CHECK_SECONDS = 1.0
BROKEN_RETRY_SECONDS = 1.0  # a version that failed to open is tried again after this


def local_article_path(article_id: str) -> str:
    """Kindred's own page of an article. The id is one path segment, every reserved
    character encoded ("a/b?c" -> "a%2Fb%3Fc"), so no id can end the path early or climb it."""
    return "/articles/" + quote(article_id, safe="")


def _add(scores: dict[str, float], extra: dict[str, float]) -> None:
    for doc_id, score in extra.items():
        scores[doc_id] += score


class QueryError(ValueError):
    """The request is over a documented limit (HTTP 400)."""


@dataclass(frozen=True)
class SearchRequest:
    q: str = ""
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    sort: str = "relevance"
    page: int = 1
    per_page: int = 10
    exact: bool = False  # True: search the words as typed, no automatic correction
    facets: bool = True


@dataclass(frozen=True)
class Hit:
    id: str
    title: str
    title_html: str  # escaped, with <mark>
    snippet_html: str  # escaped, with <mark>
    url: str
    category: str
    tags: tuple[str, ...]
    published: dt.date | None
    score: float
    pinned: bool = False


@dataclass(frozen=True)
class Facet:
    key: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class SearchResponse:
    query: str
    total: int
    page: int
    per_page: int
    hits: list[Hit]
    facets: dict[str, list[Facet]] = field(default_factory=dict)
    corrected: str | None = None  # searched instead of `query`
    suggestion: str | None = None  # did you mean
    banners: list[Banner] = field(default_factory=list)
    sort: str = "relevance"
    took_ms: float = 0.0
    version: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class RelatedItem:
    id: str
    title: str
    url: str
    teaser: str
    score: float
    kind: str  # similar | pinned | fallback
    why: tuple[str, ...]
    category: str
    published: dt.date | None
    image: str




class _Snapshot:
    """One open index version at one data_version: engine, store and derived state."""

    def __init__(self, name: str, path: Path, settings: Settings):
        self.name = name
        self.manifest = read_manifest(path)
        self.store = Store(path / STORE_FILE)
        try:
            with naming_broken_part(path / STORE_FILE):  # these read every table readers use
                self.data_version = self.store.data_version()
                self.generation = int(self.store.meta("generation", 0))
                self.labels = self.store.labels()
            with naming_broken_part(path / "engine"):
                self.engine: Engine = open_engine(self.manifest["engine"], path / "engine",
                                                  Ranking.from_settings(settings))
        except BrokenIndex:
            self.store.close()
            raise
        self._clear_derived()

    def _clear_derived(self) -> None:
        # Worked out from this state of the index on demand, kept until it changes.
        self.corrections = BoundedCache(CORRECTIONS_CACHED)
        self.term_counts = BoundedCache(TERM_COUNTS_CACHED, getsizeof=len)
        self.doc_frequencies = BoundedCache(DOC_FREQUENCIES_CACHED)

    def doc_frequency(self, term: str) -> int:
        if len(term) > LONGEST_CACHED_TERM:
            return self.engine.doc_frequency(term)
        found = self.doc_frequencies.get(term)
        if found is None:
            found = self.engine.doc_frequency(term)
            self.doc_frequencies.put(term, found)
        return found

    def article_term_counts(self, ids: Sequence[str], weights: dict[str, int],
                            deadline: Deadline | None = None) -> dict[str, Counter[str]]:
        """Weighted term counts of articles (for feedback), analyzed once per index state."""
        found = {doc_id: counts for doc_id in ids if (counts := self.term_counts.get(doc_id)) is not None}
        for article in self.store.articles(i for i in ids if i not in found).values():
            check(deadline)
            found[article.id] = IndexDoc.from_article(article, weights).term_counts()
            self.term_counts.put(article.id, found[article.id])
        return found

    @property
    def state(self) -> str:
        """Identifies what readers see: the same in every worker process."""
        return f"{self.name}.{self.generation}"

    def refresh(self) -> bool:
        current = self.store.data_version()
        if current == self.data_version:
            return False
        self.engine.refresh()
        self.labels = self.store.labels()
        self.generation = int(self.store.meta("generation", 0))
        self.data_version = current
        self._clear_derived()
        return True

    def close(self) -> None:
        self.engine.close()
        self.store.close()


class _Watched:
    """A config file re-read when its mtime changes (checked at most once a second)."""

    def __init__(self, path: Path, load):
        self.path = path
        self._load = load
        self._mtime: float | None = None
        self._checked = 0.0
        self.value = load(path)
        self._mtime = self._stat()

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def get(self):
        now = time.monotonic()
        if now - self._checked >= CONFIG_CHECK_SECONDS:
            self._checked = now
            mtime = self._stat()
            if mtime != self._mtime:
                try:
                    self.value = self._load(self.path)
                    log.info("reloaded %s", self.path)
                except Exception:  # a broken edit keeps the last good version serving
                    log.exception("could not reload %s; keeping the previous version", self.path)
                self._mtime = mtime
        return self.value


class SearchService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.layout = Layout(settings.resolve(settings.index_dir))
        self._lock = threading.RLock()
        self._snapshot: _Snapshot | None = None
        self._retired: _Snapshot | None = None  # closed on the next switch, after in-flight requests
        self._broken: tuple[str | None, float, str] | None = None  # (version, when, why) it failed to open
        self._synonyms = _Watched(settings.resolve(settings.synonyms), Synonyms.load)
        self._rules = _Watched(settings.resolve(settings.rules), Rules.load)
        # Search responses and related lists of the open version.
        self._cache = BoundedCache(settings.search_cache_size)

    # Index state -------------------------------------------------------------------------

    def _current(self) -> _Snapshot:
        name = self.layout.current_name()  # read once: the name labels what is opened
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.name != name:
                fresh = self._open(name)
                if self._retired is not None:
                    self._retired.close()
                self._retired, self._snapshot = snap, fresh
                self._cache.clear()
                return fresh
            if snap.refresh():
                self._cache.clear()
            return snap

    def _open(self, name: str | None) -> _Snapshot:
        """Open a version; one that is broken is answered as such, and tried again after
        BROKEN_RETRY_SECONDS (a request must not pay for reading it each time)."""
        broken = self._broken
        if broken and broken[0] == name and time.monotonic() - broken[1] < BROKEN_RETRY_SECONDS:
            raise BrokenIndex(broken[2])
        try:
            fresh = _Snapshot(name, self.layout.version_dir(name), self.settings)
        except BrokenIndex as exc:
            log.error("%s", exc)
            self._broken = (name, time.monotonic(), str(exc))
            raise
        self._broken = None
        return fresh

    def version(self) -> str:
        return self._current().name

    def state(self) -> str:
        """Index version and write generation: changes whenever results may change."""
        return self._current().state

    def health(self) -> dict[str, Any]:
        snap = self._current()
        return {
            "status": "ok",
            "version": snap.name,
            "engine": snap.manifest["engine"],
            "generation": snap.generation,
            "doc_count": snap.store.count(),
            "built": snap.manifest.get("created"),
        }

    def cache_usage(self) -> dict[str, tuple[int, int]]:
        """(size, bound) of every cache a query can fill, for this process: entries, or
        distinct terms for feedback's article terms."""
        snap = self._current()
        caches = {"responses": self._cache, "corrections": snap.corrections,
                  "doc_frequencies": snap.doc_frequencies, "article_terms": snap.term_counts}
        usage = {name: (cache.currsize, cache.maxsize) for name, cache in caches.items()}
        usage.update({f"words.{name}": (info.currsize, info.maxsize) for name, info in analysis.caches().items()})
        return usage

    def close(self) -> None:
        with self._lock:
            for snap in (self._snapshot, self._retired):
                if snap is not None:
                    snap.close()
            self._snapshot = self._retired = None

    # Search ------------------------------------------------------------------------------

    def _validate(self, request: SearchRequest) -> None:
        s = self.settings
        if len(request.q) > s.search_max_query_chars:
            raise QueryError(f"query is longer than {s.search_max_query_chars} characters")
        if not 1 <= request.per_page <= s.search_max_page_size:
            raise QueryError(f"per_page must be between 1 and {s.search_max_page_size}")
        if not 1 <= request.page <= s.search_max_page:
            raise QueryError(f"page must be between 1 and {s.search_max_page}")
        if request.sort not in ("relevance", "date"):
            raise QueryError("sort must be 'relevance' or 'date'")

    def _check_budget(self, parsed: ParsedQuery) -> None:
        s = self.settings
        if len(parsed.phrases) > s.search_max_phrases:
            raise QueryError(f"a query may have at most {s.search_max_phrases} quoted phrases")
        if len(parsed.excluded) > s.search_max_exclusions:
            raise QueryError(f"a query may exclude at most {s.search_max_exclusions} words or phrases")

    def search(self, request: SearchRequest) -> SearchResponse:
        self._validate(request)
        started = time.perf_counter()
        deadline = Deadline.after(self.settings.search_timeout)
        snap = self._current()
        text = clean(request.q)
        parsed = parse(text)
        # Filters from links and forms may be labels ("Harm Reduction") or keys ("harm-reduction").
        parsed = replace(
            parsed,
            categories=tuple(dict.fromkeys(parsed.categories + tuple(slugify(c) for c in request.categories))),
            tags=tuple(dict.fromkeys(parsed.tags + tuple(slugify(t) for t in request.tags))),
        )
        self._check_budget(parsed)
        if not parsed.has_terms and not (parsed.categories or parsed.tags):
            return SearchResponse(query=text, total=0, page=request.page, per_page=request.per_page, hits=[],
                                  version=snap.name)
        # A digest of the parsed query, not its tuples of words: a long question's key took 9 KB.
        digest = hashlib.blake2b(repr(parsed).encode(), digest_size=16).digest()
        key = (snap.name, snap.data_version, digest, request.sort, request.page, request.per_page,
               request.exact, request.facets)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        response = self._search(snap, text, parsed, request, deadline)
        response = replace(response, took_ms=round((time.perf_counter() - started) * 1000, 2))
        self._cache.put(key, response)
        return response

    def _planner(self, snap: _Snapshot) -> Planner:
        return Planner(self._synonyms.get(), snap.store, snap.doc_frequency, snap.engine.doc_count(),
                       Tuning.from_settings(self.settings), snap.corrections)

    def rank(self, q: str, limit: int = 1000, operators: bool = True) -> list[str]:
        """Ids of the best `limit` matches, as the reader's search would rank them (for evaluation).

        With `operators` False the text is taken as plain words: judged questions quote
        and hyphenate as prose, not as query syntax."""
        snap = self._current()
        text = clean(q)
        parsed = parse(text) if operators else ParsedQuery(words=(text,))
        plan = self._planner(snap).plan(text, parsed, limit=limit, suggest=False)
        if plan.query.matches_everything:
            return []
        return [hit.id for hit in self._ranked(snap, replace(plan.query, count=False), plan.pairs).hits]

    def _ranked(self, snap: _Snapshot, query: EngineQuery, pairs: Sequence[tuple[str, str]] = (),
                deadline: Deadline | None = None) -> EngineResults:
        """Engine results, the first pass's top RERANK_POOL re-ranked: by the reader's adjacent
        words found next to each other and, for questions, by pseudo-relevance feedback.

        The pool is the same for every page and depth, so later pages continue the first and
        `kindred eval` scores the order readers see."""
        s = self.settings
        proximity = [Concept((PhraseQuery(pair),), s.search_proximity_weight) for pair in pairs
                     if s.search_proximity_weight > 0]
        with_feedback = (s.search_feedback_docs > 0 and not query.must
                         and len(query.should) >= s.search_feedback_min_terms)
        if query.sort != "relevance" or not (proximity or with_feedback):
            return snap.engine.search(query, deadline)
        window = query.offset + query.limit
        first = snap.engine.search(replace(query, offset=0, limit=max(RERANK_POOL, window)), deadline)
        scores = {hit.id: hit.score for hit in first.hits[:RERANK_POOL]}
        _add(scores, snap.engine.rescore(proximity, list(scores)))
        if with_feedback:
            check(deadline)
            _add(scores, snap.engine.rescore(self._feedback(snap, query, scores, deadline), list(scores)))
        reranked = sorted((EngineHit(i, score) for i, score in scores.items()), key=lambda h: -h.score)
        return replace(first, hits=(reranked + first.hits[RERANK_POOL:])[query.offset:window])

    def _feedback(self, snap: _Snapshot, query: EngineQuery, scores: dict[str, float],
                  deadline: Deadline | None) -> tuple[Concept, ...]:
        """Words that the best-scoring documents share, as extra concepts (pseudo-relevance feedback)."""
        s = self.settings
        top = sorted(scores, key=lambda i: -scores[i])[: s.search_feedback_docs]
        counts = snap.article_term_counts(top, snap.manifest["field_weights"], deadline)
        doc_count = snap.engine.doc_count()
        frequency = snap.doc_frequency
        return feedback.expansion(query, [(counts[i], scores[i]) for i in top if i in counts],
                                  lambda t: bm25_idf(frequency(t), doc_count), lambda t: frequency(t) > 0,
                                  s.search_feedback_terms, s.search_feedback_words)

    def _search(self, snap: _Snapshot, text: str, parsed: ParsedQuery, request: SearchRequest,
                deadline: Deadline) -> SearchResponse:
        planner = self._planner(snap)
        offset = (request.page - 1) * request.per_page
        options = dict(sort=request.sort, offset=offset, limit=request.per_page, facets=request.facets,
                       deadline=deadline)
        plan = planner.plan(text, parsed, spelling=not request.exact, **options)
        if plan.query.matches_everything and not (parsed.categories or parsed.tags):
            # Only stop words or exclusions: nothing to rank by, so nothing to show.
            return SearchResponse(query=text, total=0, page=request.page, per_page=request.per_page, hits=[],
                                  version=snap.name)
        results = self._ranked(snap, plan.query, plan.pairs, deadline)
        corrected = plan.corrected
        suggestion = plan.suggestion
        if suggestion and results.total < FEW_RESULTS:
            # Few results for a rare word next to a common one: search the common one.
            alternative = planner.plan(suggestion, parse(suggestion), spelling=False, **options)
            alt_results = self._ranked(snap, alternative.query, alternative.pairs, deadline)
            if alt_results.total > results.total:
                plan, results, corrected, suggestion = alternative, alt_results, suggestion, None

        rules = self._rules.get().matching(list(plan.terms))
        pins = [p for rule in rules for p in rule.pins] if request.page == 1 else []
        hits = self._hits(snap, plan, results, pins, deadline)
        return SearchResponse(
            query=text,
            total=results.total,  # pinned articles are shown on top of page 1, not counted again
            page=request.page,
            per_page=request.per_page,
            hits=hits,
            facets=self._facets(snap, results, parsed) if request.facets else {},
            corrected=corrected,
            suggestion=suggestion,
            banners=[rule.banner for rule in rules if rule.banner],
            sort=plan.query.sort,
            version=snap.name,
        )

    def _hits(self, snap: _Snapshot, plan: Plan, results: EngineResults, pins: list[str],
              deadline: Deadline) -> list[Hit]:
        pins = list(dict.fromkeys(pins))
        articles = snap.store.articles(pins + [h.id for h in results.hits])
        highlighter = Highlighter(plan.highlight, snap.store.words_for_terms(plan.highlight))
        hits: list[Hit] = []
        for article_id in pins:
            if article_id in articles:
                hits.append(self._hit(articles[article_id], highlighter, 0.0, pinned=True))
        for engine_hit in results.hits:
            deadline.check()
            article = articles.get(engine_hit.id)
            if article is not None and engine_hit.id not in pins:  # absent: deleted mid-write
                hits.append(self._hit(article, highlighter, engine_hit.score))
        return hits

    def _hit(self, article: Article, highlighter: Highlighter, score: float, pinned: bool = False) -> Hit:
        source = reading_text(article.body) or article.summary
        return Hit(
            id=article.id,
            title=article.title,
            title_html=highlighter.highlight(article.title),
            snippet_html=highlighter.snippet(source) if source else "",
            url=self.article_url(article),
            category=article.category,
            tags=article.tags,
            published=article.published,
            score=round(score, 4),
            pinned=pinned,
        )

    @staticmethod
    def _facets(snap: _Snapshot, results: EngineResults, parsed: ParsedQuery) -> dict[str, list[Facet]]:
        categories, tags = snap.labels
        selected = {"category": set(parsed.categories), "tags": set(parsed.tags)}
        labels = {"category": categories, "tags": tags}
        return {
            name: [Facet(key, labels[name].get(key, key), count, key in selected[name]) for key, count in counts]
            for name, counts in results.facets.items()
        }

    # Autocomplete and near terms -----------------------------------------------------------

    def suggest(self, prefix: str, limit: int | None = None, popularity: Popularity = Popularity()) -> list[Suggestion]:
        """Completions of what a reader typed (search.suggest), ranked with `popularity`."""
        s = self.settings
        limit = s.suggest_limit if limit is None else limit
        if len(prefix) > s.search_max_query_chars:
            raise QueryError(f"query is longer than {s.search_max_query_chars} characters")
        if not 1 <= limit <= s.suggest_max_limit:
            raise QueryError(f"limit must be between 1 and {s.suggest_max_limit}")
        snap = self._current()
        return complete(snap.store, self._synonyms.get(), clean(prefix), limit, popularity,
                        lambda article_id: self.article_url_by_id(snap, article_id))

    def nearby(self, request: SearchRequest, limit: int = 5) -> list[Article]:
        """For a search that found nothing: articles about the nearest known words (spelling,
        completion, synonyms), within the reader's filters if that finds any."""
        text = clean(request.q)[: self.settings.search_max_query_chars]
        terms = near_terms(self._current().store, self._synonyms.get(), text,
                           self.settings.search_spelling_max_candidates)
        if not terms:
            return []
        near = SearchRequest(q=" ".join(terms), categories=request.categories, tags=request.tags, per_page=limit,
                             exact=True, facets=False)
        hits = self.search(near).hits or self.search(replace(near, categories=(), tags=())).hits
        found = self._current().store.articles(h.id for h in hits)
        return [found[h.id] for h in hits if h.id in found]

    # Articles and related ------------------------------------------------------------------

    def article(self, article_id: str) -> Article | None:
        return self._current().store.article(article_id)

    def article_by_url(self, url: str) -> Article | None:
        return self._current().store.article_by_url(url)

    def article_url(self, article: Article) -> str:
        if self.settings.article_links == "source" and article.url:
            return article.url
        return local_article_path(article.id)

    def article_url_by_id(self, snap: _Snapshot, article_id: str) -> str:
        article = snap.store.article(article_id)
        return self.article_url(article) if article else local_article_path(article_id)

    def recent(self, limit: int = 5, category_key: str | None = None) -> list[Article]:
        return self._current().store.recent(limit, category_key)

    def related(self, article_id: str, limit: int | None = None) -> list[RelatedItem] | None:
        """The stored related list (computed at build/upsert time), or None for an unknown id."""
        return self.related_with_state(article_id, limit)[1]

    def related_with_state(self, article_id: str, limit: int | None = None) -> tuple[str, list[RelatedItem] | None]:
        """The related list and the index state it comes from (for HTTP validators)."""
        limit = limit or self.settings.related_limit
        snap = self._current()
        # Lists change only with the index: every article page's widget asks for one.
        key = ("related", snap.name, snap.data_version, article_id, limit)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._related(snap, article_id, limit)
            if cached is not None:
                self._cache.put(key, cached)
        return snap.state, cached

    def _related(self, snap: _Snapshot, article_id: str, limit: int) -> list[RelatedItem] | None:
        entries = snap.store.related(article_id)
        if entries is None:
            if snap.store.article(article_id) is None:
                return None
            entries = [RelatedEntry(a.id, 0.0, "fallback") for a in snap.store.recent(limit + 1) if a.id != article_id]
        targets = snap.store.articles(e.id for e in entries[: limit * 2])
        items = []
        for entry in entries:
            article = targets.get(entry.id)
            if article is None:  # deleted since the list was computed
                continue
            items.append(RelatedItem(
                id=article.id, title=article.title, url=self.article_url(article),
                teaser=teaser(article, self.settings.teaser_length), score=entry.score, kind=entry.kind,
                why=entry.why, category=article.category, published=article.published, image=article.image,
            ))
            if len(items) >= limit:
                break
        return items
