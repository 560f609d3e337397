"""Security headers on every response, and `Vary: Host` on those whose links follow the Host."""

from __future__ import annotations

from flask import Flask, Response, request

from search.config import Settings
from web.context import links_follow_the_host

# Our own pages load only our own files; nothing inline, nothing from elsewhere.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'")


# What every answer carries, whoever makes it (the app, or web/fast_path.py).
READER_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"}


def register(app: Flask, settings: Settings) -> None:
    frame_ancestors = " ".join(settings.frame_ancestors) or "'none'"

    @app.after_request
    def secure(response: Response) -> Response:
        if links_follow_the_host():
            # Without site_url, absolute links come from the Host header: a shared cache must
            # keep one copy per host, or one request with a forged Host poisons everyone's.
            response.vary.add("Host")
        response.headers.update(READER_HEADERS)
        if response.mimetype == "text/html":
            if request.endpoint == "pages.widget_related":
                # The iframe widget is meant to be framed by the sites that embed it.
                response.headers["Content-Security-Policy"] = f"{PAGE_POLICY}; frame-ancestors {frame_ancestors}"
            else:
                response.headers["Content-Security-Policy"] = f"{PAGE_POLICY}; frame-ancestors 'none'"
                response.headers["X-Frame-Options"] = "DENY"
        return response
