"""What the search page, the search API and its fast path share: the request read from the
query string, the key of its cached response, and its line in the analytics log."""

from __future__ import annotations

import json

from flask import Request, current_app, request
from werkzeug.datastructures import MultiDict

from analytics.recorder import Analytics
from search.query import clean
from search.results import SearchRequest
from web.context import client_address, settings
from web.http import bool_arg, int_arg


def search_request_from_args(args: MultiDict | None = None, page_size: int | None = None) -> SearchRequest:
    """The search a query string asks for (this request's, or `args` outside a request)."""
    args = request.args if args is None else args
    page_size = settings().search_page_size if page_size is None else page_size
    return SearchRequest(
        q=args.get("q", ""),
        categories=tuple(args.getlist("category")),
        tags=tuple(args.getlist("tag")),
        sort=args.get("sort", "relevance"),
        page=int_arg("page", 1, args=args),
        per_page=int_arg("per_page", page_size, "limit", args=args),
        exact=bool_arg("exact", False, args=args),
        facets=bool_arg("facets", True, args=args),
    )


def search_key(search_request: SearchRequest, base: str) -> str:
    """The request as the response depends on it: the query as searched, the filters, the page,
    and where the response's links start (`base`: site_url, or the Host asked for)."""
    r = search_request
    return json.dumps([clean(r.q), r.categories, r.tags, r.sort, r.page, r.per_page, r.exact, r.facets, base],
                      ensure_ascii=False, separators=(",", ":"))


def record_search(search_request: SearchRequest, searched: str, total: int, took_ms: float, page: int,
                  session: str | None, req: Request | None = None, analytics: Analytics | None = None) -> None:
    """The search's line in the analytics log (`req` and `analytics`: outside a Flask request)."""
    if searched or search_request.categories or search_request.tags:
        analytics = current_app.extensions["kindred.analytics"] if analytics is None else analytics
        analytics.record_search(searched, {"category": list(search_request.categories),
                                           "tag": list(search_request.tags)},
                                total, took_ms, page, session, client_address(request if req is None else req))
