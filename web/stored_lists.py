"""GET /api/v1/related/<id>, the request every article page makes, answered from the stored
list before Flask's request machinery: a look-up, a cut to `limit`, the links given this
site's base, and the headers the app would send (tests/test_stored_lists.py compares the two
answers header by header).

A related list is a precomputed answer (search/related_lists.py), so it should cost about
what a static file costs. Only the common case is answered here: a GET of a known article
with at most a valid `limit`, under the default public CORS policy ("*"). Anything else (a
preflight, another policy, other parameters, a bad limit, an unknown id) goes on to the app,
which stays the one owner of every other answer.
"""

from __future__ import annotations

import json
import re
import time
from typing import Callable, Iterable
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.http import http_date, parse_etags
from werkzeug.wsgi import get_current_url

from search.related_lists import absolute
from web.headers import READER_HEADERS
from web.http import etag_of
from web.ops import log_request

PATH = re.compile(r"/api/v1/related/([^/]+)\Z")
ENDPOINT = "api.related"  # the app's name for this route, in metrics and the access log
MAX_AGE = 300


class StoredLists:
    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app_wsgi = wsgi_app
        settings = app.extensions["kindred.settings"]
        self.service = app.extensions["kindred.search"]
        self.site_url = settings.site_url
        self.default_limit, self.max_limit = settings.related_limit, settings.related_k
        self.enabled = "*" in settings.cors_origins  # other policies depend on Origin: the app's work

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        try:
            found = self._answer(environ) if self.enabled and environ["REQUEST_METHOD"] == "GET" else None
        except Exception:  # a broken or missing index: the app answers it (503) as for every route
            found = None
        if found is None:
            return self.app_wsgi(environ, start_response)
        status, headers, body = found
        start_response(status, headers)
        log_request("GET", environ.get("PATH_INFO", ""), ENDPOINT, int(status[:3]), time.perf_counter() - started,
                    len(body))
        return [body]

    def _answer(self, environ: dict) -> tuple[str, list[tuple[str, str]], bytes] | None:
        match = PATH.match(environ.get("PATH_INFO", ""))
        limit = self._limit(environ.get("QUERY_STRING", "")) if match else None
        if limit is None:
            return None
        try:  # WSGI gives the path's bytes as latin-1 characters
            article_id = match.group(1).encode("latin-1").decode("utf-8")
        except UnicodeError:
            return None
        state, payload = self.service.related_payload(article_id)
        if payload is None:
            return None
        base = self.site_url or get_current_url(environ, host_only=True)
        etag = etag_of(state, article_id, limit, base)
        headers = [("ETag", f'"{etag}"'), ("Cache-Control", f"public, max-age={MAX_AGE}"), ("Date", http_date()),
                   ("Access-Control-Allow-Origin", "*"), *READER_HEADERS.items()]
        if not self.site_url:
            headers.append(("Vary", "Host"))  # links follow the Host asked for
        if parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains(etag):
            return "304 Not Modified", headers, b""
        items = absolute(payload.json_items(limit), base)  # stored root-relative
        body = b'{"id":' + _json_string(article_id) + b',"related":' + items + b"}"
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        return "200 OK", headers, body

    def _limit(self, query: str) -> int | None:
        """`limit` when it is the only parameter and valid; None leaves the request to the app."""
        if not query:
            return self.default_limit
        pairs = parse_qsl(query, keep_blank_values=True)
        if len(pairs) != 1 or pairs[0][0] != "limit" or not pairs[0][1].isdigit():
            return None
        limit = int(pairs[0][1])
        return limit if 1 <= limit <= self.max_limit else None


def _json_string(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()
