"""The two requests readers make most, answered before Flask's request machinery when their
answer is already made: GET /api/v1/related/<id> (every article page) from the stored list,
and GET /api/v1/search from the responses the workers share (web/response_cache.py) once a
query has been searched. Each costs a look-up, its headers and its log line, about what a
static file costs (tests/test_fast_path.py compares every answer with the app's, header by
header).

Only the common case is answered here: a GET under the default public CORS policy ("*"),
with the parameters the app would accept, for an answer that exists. Anything else (a
preflight, another policy, a parameter the app refuses, an unknown id, a search not yet
cached) goes on to the app, which stays the one owner of every other answer.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Iterable
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.http import http_date, parse_etags
from werkzeug.wrappers import Request

from web.errors import ApiError
from web.headers import READER_HEADERS
from web.http import etag_of, session_id
from web.ops import log_request
from web.searching import record_search, search_key, search_request_from_args

RELATED = re.compile(r"/api/v1/related/([^/]+)\Z")
SEARCH = "/api/v1/search"
MAX_AGE = 300



class FastPath:
    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app_wsgi = wsgi_app
        settings = app.extensions["kindred.settings"]
        self.service = app.extensions["kindred.search"]
        self.responses = app.extensions["kindred.responses"]
        self.analytics = app.extensions["kindred.analytics"]
        self.site_url = settings.site_url
        self.page_size = settings.search_page_size
        self.default_limit, self.max_limit = settings.related_limit, settings.related_k
        self.enabled = "*" in settings.cors_origins  # other policies depend on Origin: the app's work

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        found = None
        if self.enabled and environ["REQUEST_METHOD"] == "GET":
            path = environ.get("PATH_INFO", "")
            try:
                if path == SEARCH:
                    found = self._search(environ, started)
                elif match := RELATED.match(path):
                    found = self._related(environ, match.group(1))
            except Exception:  # a broken or missing index: the app answers it (503) as for every route
                found = None
        if found is None:
            return self.app_wsgi(environ, start_response)
        status, headers, body, endpoint = found
        start_response(status, headers)
        log_request("GET", environ.get("PATH_INFO", ""), endpoint, int(status[:3]), time.perf_counter() - started,
                    len(body))
        return [body]

    def _headers(self) -> list[tuple[str, str]]:
        headers = [("Access-Control-Allow-Origin", "*"), *READER_HEADERS.items()]
        if not self.site_url:
            headers.append(("Vary", "Host"))  # links follow the Host asked for
        return headers

    def _search(self, environ: dict, started: float) -> tuple | None:
        req = Request(environ)
        try:
            search_request = search_request_from_args(req.args, self.page_size)
        except ApiError:
            return None
        cached = self.responses.get(self.service.state(), search_key(search_request, self.site_url or req.host_url))
        if cached is None:
            return None  # the app searches, and keeps the answer for every worker
        meta = cached.meta
        record_search(search_request, meta["searched"], meta["total"], round((time.perf_counter() - started) * 1000, 2),
                      meta["page"], session_id(req), req, self.analytics)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(cached.body))),
                   ("X-Kindred-Cache", "hit"), *self._headers()]
        return "200 OK", headers, cached.body, "api.search"

    def _related(self, environ: dict, raw_id: str) -> tuple | None:
        limit = self._limit(environ.get("QUERY_STRING", ""))
        if limit is None:
            return None
        try:  # WSGI gives the path's bytes as latin-1 characters
            article_id = raw_id.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return None
        state, payload = self.service.related_payload(article_id)
        if payload is None:
            return None
        base = self.site_url or Request(environ).host_url
        etag = etag_of(state, article_id, limit, base)
        headers = [("ETag", f'"{etag}"'), ("Cache-Control", f"public, max-age={MAX_AGE}"), ("Date", http_date()),
                   *self._headers()]
        if parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains(etag):
            return "304 Not Modified", headers, b"", "api.related"
        body = payload.api_body(article_id, limit, base)
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        return "200 OK", headers, body, "api.related"

    def _limit(self, query: str) -> int | None:
        """`limit` when it is the only parameter and valid; None leaves the request to the app."""
        if not query:
            return self.default_limit
        pairs = parse_qsl(query, keep_blank_values=True)
        if len(pairs) != 1 or pairs[0][0] != "limit" or not pairs[0][1].isdigit():
            return None
        limit = int(pairs[0][1])
        return limit if 1 <= limit <= self.max_limit else None
