"""One error hierarchy, mapped to responses in one place: JSON under /api, HTML elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from search.article import InvalidArticle
from search.deadline import SearchTimeout
from search.results import QueryError
from search.versions import BrokenIndex, IncompatibleIndex, IndexNotFound
from search.write_errors import BuildError, IndexBusy, StorageError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# Domain errors and how each reaches a client.
_DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    QueryError: (400, "bad_request"),
    SearchTimeout: (503, "timeout"),
    InvalidArticle: (422, "invalid_article"),
    IndexNotFound: (503, "no_index"),
    IncompatibleIndex: (503, "incompatible_index"),
    BrokenIndex: (503, "broken_index"),
    IndexBusy: (409, "busy"),
    BuildError: (422, "build_failed"),
    StorageError: (507, "insufficient_storage"),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/openapi.json")


def _respond(status: int, code: str, message: str) -> Response:
    if _wants_json():
        response = jsonify({"error": {"code": code, "message": message}})
    else:
        response = make_response(render_template("error.html", status=status, message=message))
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return _respond(exc.status, exc.code, exc.message)

    for exc_type, (status, code) in _DOMAIN_ERRORS.items():
        app.register_error_handler(exc_type, lambda exc, s=status, c=code: _respond(s, c, str(exc)))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        response = _respond(exc.code or 500, code, exc.description or exc.name)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(500, "internal_error", "Something went wrong on our side.")
