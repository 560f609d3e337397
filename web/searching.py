"""What the search page and the search API share: the request read from the query string,
and its line in the analytics log."""

from __future__ import annotations

from flask import current_app, request

from search.results import SearchRequest
from web.context import client_address, settings
from web.http import bool_arg, int_arg


def search_request_from_args() -> SearchRequest:
    args = request.args
    return SearchRequest(
        q=args.get("q", ""),
        categories=tuple(args.getlist("category")),
        tags=tuple(args.getlist("tag")),
        sort=args.get("sort", "relevance"),
        page=int_arg("page", 1),
        per_page=int_arg("per_page", settings().search_page_size, "limit"),
        exact=bool_arg("exact", False),
        facets=bool_arg("facets", True),
    )


def record_search(search_request: SearchRequest, searched: str, total: int, took_ms: float, page: int,
                  session: str | None) -> None:
    if searched or search_request.categories or search_request.tags:
        current_app.extensions["kindred.analytics"].record_search(
            searched, {"category": list(search_request.categories), "tag": list(search_request.tags)},
            total, took_ms, page, session, client_address(request))
