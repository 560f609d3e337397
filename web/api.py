"""The JSON API (/api/v1, with /api aliases): search, suggest, related, articles, admin writes."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from analytics.events import EVENT_FIELDS, MAX_EVENT_BYTES, InvalidEvent
from search.article import Article, InvalidArticle
from search.results import Hit, SearchResponse
from web.context import (absolute_url, article_link, client_address, image_link, indexer, search_service, settings,
                         site_base)
from web.errors import ApiError
from web.http import cacheable, int_arg, json_body, public_cors, require_admin, session_id
from web.response_cache import Cached
from web.searching import record_search, search_key, search_request_from_args

blueprint = Blueprint("api", __name__)


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "id": hit.id,
        "title": hit.title,
        "title_html": hit.title_html,
        "snippet": hit.snippet_html,
        "url": article_link(hit.url, hit.id),
        "score": hit.score,
        "category": hit.category,
        "tags": list(hit.tags),
        "published": hit.published.isoformat() if hit.published else None,
        "pinned": hit.pinned,
    }


@blueprint.get("/search")
@public_cors
def search():
    started = time.perf_counter()
    search_request = search_request_from_args()
    service, responses = search_service(), current_app.extensions["kindred.responses"]
    state, key = service.state(), search_key(search_request, site_base())
    cached = responses.get(state, key)
    answered = "hit" if cached else "miss"
    if cached is None:
        response = service.search(search_request)
        body = json.dumps(search_json(response), ensure_ascii=False, separators=(",", ":")).encode()
        meta = {"searched": response.corrected or response.query, "total": response.total, "page": response.page}
        cached = Cached(body, meta)
        responses.put(state, key, cached)
    took_ms = round((time.perf_counter() - started) * 1000, 2)
    record_search(search_request, cached.meta["searched"], cached.meta["total"], took_ms, cached.meta["page"],
                  session_id(request))
    return Response(cached.body, mimetype="application/json", headers={"X-Kindred-Cache": answered})


def search_json(response: SearchResponse) -> dict[str, Any]:
    return {
        "query": response.query,
        "total": response.total,
        "page": response.page,
        "per_page": response.per_page,
        "pages": response.pages,
        "sort": response.sort,
        "hits": [hit_json(h) for h in response.hits],
        "facets": {
            name: [{"key": f.key, "label": f.label, "count": f.count, "selected": f.selected} for f in facets]
            for name, facets in response.facets.items()
        },
        "corrected": response.corrected,
        "suggestion": response.suggestion,
        "banners": [
            {"rule": b.rule, "kind": b.kind, "title": b.title, "text": b.text,
             "links": [{"label": link.label, "href": link.href} for link in b.links]}
            for b in response.banners
        ],
        "took_ms": response.took_ms,
        "version": response.version,
    }


@blueprint.get("/suggest")
@public_cors
def suggest():
    q = request.args.get("q", "")
    popularity = current_app.extensions["kindred.popularity"].get()
    suggestions = search_service().suggest(q, int_arg("limit", settings().suggest_limit), popularity)
    return jsonify({
        "query": q,
        "suggestions": [
            {"kind": s.kind, "text": s.text, "id": s.id,
             "url": (article_link(s.url, s.id) if s.id else absolute_url(s.url)) if s.url else None}
            for s in suggestions
        ],
    })


def _related_limit() -> int:
    limit = int_arg("limit", settings().related_limit)
    if not 1 <= limit <= settings().related_k:
        raise ApiError(400, "bad_request", f"limit must be between 1 and {settings().related_k}")
    return limit


def _related_response(article_id: str, limit: int):
    """The stored list's bytes: a lookup, a cut to `limit`, links given this site's host."""
    state, payload = search_service().related_payload(article_id)
    if payload is None:
        raise ApiError(404, "not_found", f"no article with id {article_id!r}")
    body = payload.api_body(article_id, limit, site_base())
    response = current_app.response_class(body, mimetype="application/json")
    return cacheable(response, state, article_id, limit, site_base())


@blueprint.get("/related/<article_id:article_id>")
@public_cors
def related(article_id: str):
    return _related_response(article_id, _related_limit())


@blueprint.get("/related")
@public_cors
def related_by_url():
    url = request.args.get("url", "")
    if not url:
        raise ApiError(400, "bad_request", "give ?url= (or use /related/<id>)")
    try:
        article = search_service().article_by_url(url)
    except ValueError:  # not a URL at all ("http://[")
        raise ApiError(400, "bad_request", "url is not a valid URL") from None
    if article is None:
        raise ApiError(404, "not_found", "no article with that URL")
    return _related_response(article.id, _related_limit())


@blueprint.get("/articles/<article_id:article_id>")
@public_cors
def article(article_id: str):
    found = search_service().article(article_id)
    if found is None:
        raise ApiError(404, "not_found", f"no article with id {article_id!r}")
    data = found.to_dict()
    data["url"] = article_link(search_service().article_url(found), found.id)
    data["image"] = image_link(found.image) or ""  # javascript:, data:, vbscript: never leave as links
    return jsonify(data)


@blueprint.post("/events")
@public_cors
def events():
    """Reader events from pages and the widget (sendBeacon posts text/plain JSON)."""
    raw = request.get_data(cache=False)[: MAX_EVENT_BYTES + 1]
    if len(raw) > MAX_EVENT_BYTES:
        raise ApiError(413, "too_large", f"an event is at most {MAX_EVENT_BYTES} bytes")
    analytics = current_app.extensions["kindred.analytics"]
    client = client_address(request)
    if not analytics.allow_event(client):
        raise ApiError(429, "too_many_events",
                       f"at most {settings().analytics_events_per_minute} events a minute from one client")
    try:
        event = EVENT_FIELDS.validate(json_body(raw))
    except InvalidEvent as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    analytics.record_event(event, session_id(request), client)
    return "", 204


# Admin -----------------------------------------------------------------------------------


def _articles_from_body() -> list[Article]:
    if not request.is_json:
        raise ApiError(400, "bad_request", "body must be JSON: an article, a list of articles or {\"articles\": [...]}")
    payload = json_body(request.get_data())
    if isinstance(payload, dict) and isinstance(payload.get("articles"), list):
        payload = payload["articles"]
    records = payload if isinstance(payload, list) else [payload]
    if not records:
        raise ApiError(400, "bad_request", "no articles in the body")
    if len(records) > settings().max_batch_size:
        raise ApiError(413, "batch_too_large", f"at most {settings().max_batch_size} articles per request")
    articles, problems = [], []
    for number, record in enumerate(records, start=1):
        try:
            articles.append(Article.from_mapping(record))
        except InvalidArticle as exc:
            problems.append(f"article {number}: {exc}")
    if problems:
        # All or nothing: a half-applied batch is harder to retry than a refused one.
        raise ApiError(422, "invalid_article", "; ".join(problems[:20]))
    return articles


@blueprint.route("/articles", methods=["POST", "PUT"])
@require_admin
def upsert_articles():
    articles = _articles_from_body()
    report = indexer().upsert(articles)
    return jsonify({"upserted": report.upserted, "related_updated": report.related_updated,
                    "ids": [a.id for a in articles]})


@blueprint.delete("/articles/<article_id:article_id>")
@require_admin
def delete_article(article_id: str):
    report = indexer().delete([article_id])
    if not report.deleted:
        raise ApiError(404, "not_found", f"no article with id {article_id!r}")
    return jsonify({"deleted": report.deleted, "related_updated": report.related_updated})


@blueprint.post("/reindex")
@require_admin
def reindex():
    report = indexer().reindex()
    return jsonify({
        "version": report.version,
        "indexed": report.indexed,
        "rejected": [str(r) for r in report.rejected[:100]],
        "rejected_count": report.rejected_count,
        "skipped_count": report.skipped_count,
    })
