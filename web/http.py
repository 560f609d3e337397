"""HTTP helpers shared by views: parameters, JSON bodies, client addresses, admin auth,
CORS and validators."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
from functools import wraps
from typing import Any, Callable

from urllib.parse import quote

from flask import Request, Response, make_response, request
from flask_cors import cross_origin
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import PathConverter

from web.context import settings
from web.editors import admin_token_matches
from web.errors import ApiError


SESSION_COOKIE = "kindred_sid"
SESSION_SECONDS = 30 * 60
_SESSION_ID = re.compile(r"[0-9a-f]{32}")


def session_id(req: Request) -> str | None:
    """The anonymous analytics session: a random first-party cookie id, or None."""
    value = req.cookies.get(SESSION_COOKIE, "")
    return value if _SESSION_ID.fullmatch(value) else None


def page_session(req: Request) -> str | None:
    """The session a page records its search under and keeps: the cookie's, or a new one (the
    response sets it), so a visit's first search belongs to its session too."""
    if not settings().analytics_sessions:
        return None
    return session_id(req) or secrets.token_hex(16)


def keep_session(response: Response, current: str | None) -> Response:
    """(Re)set the session cookie so a session ends after 30 idle minutes (unless sessions
    are off: analytics_sessions = false sets no cookie)."""
    if not settings().analytics_sessions:
        return response
    response.set_cookie(SESSION_COOKIE, current or secrets.token_hex(16), max_age=SESSION_SECONDS,
                        httponly=True, samesite="Lax")
    return response


class ArticleIdConverter(PathConverter):
    """`<article_id:...>` in a route: an article id is one path segment with every reserved
    character encoded, so ids like "a?b", "50%2F50" or "../admin/analytics" link to their own
    article (servers decode %2F before routing, hence it matches like a path, and an id may
    begin with "/": the app keeps "//" in paths as it is)."""

    regex = ".+?"
    part_isolating = False

    def to_url(self, value: str) -> str:
        return quote(value, safe="")


def int_arg(name: str, default: int, *aliases: str, args: MultiDict | None = None) -> int:
    args = request.args if args is None else args
    for key in (name, *aliases):
        raw = args.get(key)
        if raw is None:
            continue
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, "bad_request", f"{key} must be a whole number") from None
    return default


_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def bool_arg(name: str, default: bool, args: MultiDict | None = None) -> bool:
    """true/false (or 1/0); anything else is a 400, as the OpenAPI document says."""
    raw = (request.args if args is None else args).get(name)
    if raw is None:
        return default
    try:
        return _FLAGS[raw.strip().lower()]
    except KeyError:
        raise ApiError(400, "bad_request", f"{name} must be true or false") from None


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {number[:20]}")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(raw: bytes) -> Any:
    """The body as standard JSON: NaN, Infinity, numbers too large for a float and nesting
    deeper than the parser goes are a 400 like any other malformed body."""
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not valid JSON"
        raise ApiError(400, "bad_request", f"the body is {reason}") from None


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    return supplied.strip() if scheme.lower() == "bearer" else None


def _equals(token: str) -> Callable[[str], bool]:
    return lambda supplied: hmac.compare_digest(supplied.encode(), token.encode())


def check_bearer(token: str, setting: str, disabled: str, what: str,
                 matches: Callable[[str], bool] | None = None) -> None:
    """Bearer-token auth. No Authorization header is a 401 whether or not the feature is on
    (as the OpenAPI document says); a token while `setting` is empty (the feature off), 403.
    `matches` judges a supplied token (default: constant-time equality with `token`)."""
    if not token and "Authorization" in request.headers:
        raise ApiError(403, disabled, f"{what} disabled: set {setting} (KINDRED_{setting.upper()})")
    supplied = bearer_token()
    if not token or supplied is None or not (matches or _equals(token))(supplied):
        raise ApiError(401, "unauthorized", f"a valid 'Authorization: Bearer <{setting}>' header is required")


def require_admin(view: Callable) -> Callable:
    """Admin endpoints take the admin token (check_bearer); wrong ones are throttled per client."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        check_bearer(settings().admin_token, "admin_token", "admin_disabled", "admin endpoints are",
                     admin_token_matches)
        return view(*args, **kwargs)

    return wrapper


# CORS for public reads through flask-cors, with the origins from `cors_origins` (create_app
# puts them in the app config, read per request): never credentials, only GET and POST with
# Content-Type, so no page elsewhere can act with a reader's cookies or call the admin API.
_cross_origin = cross_origin(methods=["GET", "POST", "OPTIONS"], allow_headers=["Content-Type"], max_age=86400,
                             send_wildcard=True, supports_credentials=False)


def public_cors(view: Callable) -> Callable:
    """A public endpoint other origins may read (and preflight)."""
    allowed = _cross_origin(view)

    @wraps(allowed)
    def wrapper(*args, **kwargs):
        response = make_response(allowed(*args, **kwargs))
        if "*" not in settings().cors_origins:
            # The answer depends on Origin; flask-cors says so only for several origins.
            response.vary.add("Origin")
        return response

    return wrapper


def etag_of(*parts: object) -> str:
    """The ETag of an answer made from these parts (index state and request)."""
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:20]


def cacheable(response: Response, *parts: object, max_age: int = 300) -> Response:
    """ETag from the index state and request; a matching If-None-Match gets 304."""
    response.set_etag(etag_of(*parts))
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response.make_conditional(request)


def enforce_body_limit() -> None:
    """A chunked body (no Content-Length) over max_body_bytes gets 413 like any other.

    Werkzeug checks Content-Length up front, but stops reading a chunked body at the limit
    without an error, so the handler would see it cut short (and answer a misleading 400).
    Read it here, within the limit, and look one byte past it."""
    if request.content_length is not None or request.method not in ("POST", "PUT", "PATCH"):
        return
    limit = settings().max_body_bytes
    if len(request.get_data(cache=True)) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge(f"the request body is larger than {limit:,} bytes")
