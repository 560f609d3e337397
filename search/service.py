"""The read side: one SearchService per process answers searches, completions, articles
and related lists from the open index version (search/snapshot.py `CurrentVersion`).
Results are cached per index state, so a change never serves stale results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import replace
from typing import Any, Sequence

from search import analysis, feedback
from search.article import Article, slugify
from search.caches import BoundedCache
from search.config import Settings
from search.deadline import Deadline, check
from search.engine import Concept, EngineHit, EngineQuery, EngineResults, PhraseQuery, bm25_idf
from search.highlight import Highlighter
from search.links import article_href, local_article_path
from search.planner import Plan, Planner, Tuning
from search.query import ParsedQuery, clean, parse
from search.related_lists import RelatedPayload
from search.results import Facet, Hit, QueryError, RelatedItem, SearchRequest, SearchResponse
from search.rules import Rules
from search.snapshot import CurrentVersion, Snapshot, Watched
from search.store import HitMaterial
from search.suggest import Popularity, Suggestion, complete, near_terms
from search.synonyms import Synonyms
from search.versions import Layout

log = logging.getLogger(__name__)

FEW_RESULTS = 3  # below this, a search looks for a "did you mean" (a rare word next to a far more common one)
RERANK_POOL = 50  # proximity and pseudo-relevance feedback re-rank this many first-pass results


def _add(scores: dict[str, float], extra: dict[str, float]) -> None:
    for doc_id, score in extra.items():
        scores[doc_id] += score


class SearchService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.index = CurrentVersion(Layout(settings.resolve(settings.index_dir)), settings)
        self._synonyms = Watched(settings.resolve(settings.synonyms), Synonyms.load)
        self._rules = Watched(settings.resolve(settings.rules), Rules.load)
        # Search responses and related lists; keys carry the index state, so a new version or
        # write is never answered from an older entry.
        self._cache = BoundedCache(settings.search_cache_size)

    def _current(self) -> Snapshot:
        return self.index.snapshot()

    def version(self) -> str:
        return self._current().name

    def state(self) -> str:
        """Index version, write generation, synonyms and rules: changes whenever results may
        change, and is the same in every worker."""
        return f"{self._current().state}.{self._synonyms.stamp()}.{self._rules.stamp()}"

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
        written words for the written forms of stems."""
        snap = self._current()
        caches = {"responses": self._cache, "corrections": snap.corrections,
                  "doc_frequencies": snap.doc_frequencies, "written_forms": snap.written_forms}
        usage = {name: (cache.currsize, cache.maxsize) for name, cache in caches.items()}
        usage.update({f"words.{name}": (info.currsize, info.maxsize) for name, info in analysis.caches().items()})
        return usage

    def close(self) -> None:
        self.index.close()

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
        key = (snap.name, snap.data_version, self._synonyms.stamp(), self._rules.stamp(), digest, request.sort,
               request.page, request.per_page, request.exact, request.facets)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        response = self._search(snap, text, parsed, request, deadline)
        response = replace(response, took_ms=round((time.perf_counter() - started) * 1000, 2))
        self._cache.put(key, response)
        return response

    def _planner(self, snap: Snapshot) -> Planner:
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

    def _ranked(self, snap: Snapshot, query: EngineQuery, pairs: Sequence[tuple[str, str]] = (),
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

    def _feedback(self, snap: Snapshot, query: EngineQuery, scores: dict[str, float],
                  deadline: Deadline | None) -> tuple[Concept, ...]:
        """Words that the best-scoring documents share, as extra concepts (pseudo-relevance feedback)."""
        s = self.settings
        top = sorted(scores, key=lambda i: -scores[i])[: s.search_feedback_docs]
        check(deadline)
        stored = snap.store.feedback_terms(top)  # each article's strongest terms, kept when it was indexed
        doc_count = snap.engine.doc_count()
        frequency = snap.doc_frequency
        return feedback.expansion(query, [(*stored[i], scores[i]) for i in top if i in stored],
                                  lambda t: bm25_idf(frequency(t), doc_count), lambda t: frequency(t) > 0,
                                  s.search_feedback_terms, s.search_feedback_words, s.search_feedback_focus)

    def _search(self, snap: Snapshot, text: str, parsed: ParsedQuery, request: SearchRequest,
                deadline: Deadline) -> SearchResponse:
        planner = self._planner(snap)
        offset = (request.page - 1) * request.per_page
        options = dict(sort=request.sort, offset=offset, limit=request.per_page, facets=request.facets,
                       deadline=deadline)
        plan = planner.plan(text, parsed, spelling=not request.exact, suggest=False, **options)
        if plan.query.matches_everything and not (parsed.categories or parsed.tags):
            # Only stop words or exclusions: nothing to rank by, so nothing to show.
            return SearchResponse(query=text, total=0, page=request.page, per_page=request.per_page, hits=[],
                                  version=snap.name)
        results = self._ranked(snap, plan.query, plan.pairs, deadline)
        corrected, suggestion = plan.corrected, None
        if not request.exact and results.total < FEW_RESULTS:
            # Few results: is a rare word next to a far more common one?
            suggestion = planner.plan(text, parsed, **options).suggestion
        if suggestion and results.total == 0:
            # Nothing found (a filter or an exclusion left nothing): search the common word instead.
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

    def _hits(self, snap: Snapshot, plan: Plan, results: EngineResults, pins: list[str],
              deadline: Deadline) -> list[Hit]:
        pins = list(dict.fromkeys(pins))
        material = snap.store.hits(pins + [h.id for h in results.hits])
        highlighter = Highlighter(snap.words_of(plan.highlight))
        hits: list[Hit] = []
        for article_id in pins:
            if article_id in material:
                hits.append(self._hit(material[article_id], highlighter, 0.0, pinned=True))
        for engine_hit in results.hits:
            deadline.check()
            found = material.get(engine_hit.id)
            if found is not None and engine_hit.id not in pins:  # absent: deleted mid-write
                hits.append(self._hit(found, highlighter, engine_hit.score))
        return hits

    def _hit(self, material: HitMaterial, highlighter: Highlighter, score: float, pinned: bool = False) -> Hit:
        article = Article.from_stored(material.card)
        return Hit(
            id=article.id,
            title=article.title,
            title_html=highlighter.highlight(material.title),
            snippet_html=highlighter.snippet(material.snippet) if material.snippet.text else "",
            url=self.article_url(article),
            category=article.category,
            tags=article.tags,
            published=article.published,
            score=round(score, 4),
            pinned=pinned,
        )

    @staticmethod
    def _facets(snap: Snapshot, results: EngineResults, parsed: ParsedQuery) -> dict[str, list[Facet]]:
        categories, tags = snap.labels
        selected = {"category": set(parsed.categories), "tags": set(parsed.tags)}
        labels = {"category": categories, "tags": tags}
        return {
            name: [Facet(key, labels[name].get(key, key), count, key in selected[name]) for key, count in counts]
            for name, counts in results.facets.items()
        }

    # Autocomplete ------------------------------------------------------------------------

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
        """Where a result links: root-relative, or the article's own absolute URL."""
        return article_href(article.url, article.id, self.settings.article_links)

    def article_url_by_id(self, snap: Snapshot, article_id: str) -> str:
        article = snap.store.article(article_id)
        return self.article_url(article) if article else local_article_path(article_id)

    def recent(self, limit: int = 5, category_key: str | None = None) -> list[Article]:
        return self._current().store.recent(limit, category_key)

    def related_payload(self, article_id: str) -> tuple[str, RelatedPayload | None]:
        """The index state and the article's related list as stored when it was computed
        (a build or an upsert): what readers are sent. None for an unknown id."""
        snap = self._current()
        key = ("related", snap.name, snap.data_version, article_id)
        payload = self._cache.get(key)
        if payload is None:
            payload = snap.store.related_payload(article_id)
            if payload is None:
                if snap.store.article(article_id) is None:
                    return snap.state, None
                payload = EMPTY_LIST
            self._cache.put(key, payload)
        return snap.state, payload

    def related(self, article_id: str, limit: int | None = None) -> list[RelatedItem] | None:
        """The stored related list, or None for an unknown id."""
        payload = self.related_payload(article_id)[1]
        if payload is None:
            return None
        return [_related_item(entry) for entry in payload.entries(limit or self.settings.related_limit)]


EMPTY_LIST = RelatedPayload(b"", b"", b"", b"", "empty")


def _related_item(entry: dict[str, Any]) -> RelatedItem:
    published = entry["published"]
    return RelatedItem(id=entry["id"], title=entry["title"], url=entry["url"], teaser=entry["teaser"],
                       score=entry["score"], kind=entry["kind"], why=tuple(entry["why"]), category=entry["category"],
                       published=dt.date.fromisoformat(published) if published else None, image=entry["image"] or "")
