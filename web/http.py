"""HTTP helpers shared by views: parameters, admin auth, CORS and validators."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import wraps
from typing import Callable

from flask import Request, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

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


def keep_session(response: Response, current: str | None) -> Response:
    """(Re)set the session cookie so a session ends after 30 idle minutes."""
    response.set_cookie(SESSION_COOKIE, current or secrets.token_hex(16), max_age=SESSION_SECONDS,
                        httponly=True, samesite="Lax")
    return response


def int_arg(name: str, default: int, *aliases: str) -> int:
    for key in (name, *aliases):
        raw = request.args.get(key)
        if raw is None or raw == "":
            continue
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, "bad_request", f"{key} must be a whole number") from None
    return default


def bool_arg(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    return supplied.strip() if scheme.lower() == "bearer" else None


def bearer_matches(token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (constant-time comparison)."""
    supplied = bearer_token()
    return supplied is not None and hmac.compare_digest(supplied.encode(), token.encode())


def require_admin(view: Callable) -> Callable:
    """Bearer-token auth for admin endpoints (constant-time, wrong tokens throttled per client)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = settings().admin_token
        if not token:
            raise ApiError(403, "admin_disabled", "admin endpoints are disabled: set admin_token (KINDRED_ADMIN_TOKEN)")
        supplied = bearer_token()
        if supplied is None or not admin_token_matches(supplied):
            raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header is required")
        return view(*args, **kwargs)

    return wrapper


def allow_cors(response: Response) -> Response:
    """CORS for public reads: the configured origins, never with credentials."""
    allowed = settings().cors_origins
    origin = request.headers.get("Origin")
    if "*" in allowed:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary.add("Origin")
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


def cacheable(response: Response, *parts: object, max_age: int = 300) -> Response:
    """ETag from the index state and request; a matching If-None-Match gets 304."""
    digest = hashlib.sha1(repr(parts).encode()).hexdigest()[:20]
    response.set_etag(digest)
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
