"""Security headers on every response, and one structured access-log line per request."""

from __future__ import annotations

import json
import logging
import time

from flask import Flask, Response, g, request

from search.config import Settings

access_log = logging.getLogger("kindred.access")

# Our own pages load only our own files; nothing inline, nothing from elsewhere.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'")


def register(app: Flask, settings: Settings) -> None:
    frame_ancestors = " ".join(settings.frame_ancestors) or "'none'"

    @app.before_request
    def start_clock():
        g.kindred_clock = time.perf_counter()

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        if response.mimetype == "text/html":
            if request.endpoint == "pages.widget_related":
                # The iframe widget is meant to be framed by the sites that embed it.
                response.headers["Content-Security-Policy"] = f"{PAGE_POLICY}; frame-ancestors {frame_ancestors}"
            else:
                response.headers["Content-Security-Policy"] = f"{PAGE_POLICY}; frame-ancestors 'none'"
                response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.after_request
    def log_access(response: Response) -> Response:
        started = g.pop("kindred_clock", None)
        if access_log.isEnabledFor(logging.INFO):
            # No IP address or user agent: readers stay anonymous.
            access_log.info(json.dumps({
                "method": request.method,
                "path": request.path,
                "endpoint": request.endpoint,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                "bytes": response.calculate_content_length(),
            }))
        return response
