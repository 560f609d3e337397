"""The app factory."""

from __future__ import annotations

import hashlib
import logging

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from search.config import Settings, load_settings
from search.service import SearchService
from analytics.recorder import Analytics
from web import admin, api, errors, headers, openapi, ops, pages, replication
from web.editors import Editors
from web.http import ArticleIdConverter, enforce_body_limit
from web.popularity import PopularityFeed
from web.response_cache import ResponseCache
from web.fast_path import FastPath

log = logging.getLogger(__name__)


class EditorCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, which only editors carry: a request without one gets an
    empty session without building the signer (a reader's request skips that work)."""

    def open_session(self, app, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # Editor sessions are signed with a key derived from the admin token: changing the
    # token signs every editor out.
    app.secret_key = hashlib.sha256(f"kindred-session:{settings.admin_token}".encode()).hexdigest()
    app.session_interface = EditorCookies()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.site_url.startswith("https://"))
    app.config["CORS_ORIGINS"] = settings.cors_origins  # for web.http.public_cors
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["kindred.settings"] = settings
    app.extensions["kindred.search"] = SearchService(settings)
    app.extensions["kindred.responses"] = ResponseCache(settings)
    app.extensions["kindred.editors"] = Editors(settings.resolve(settings.admin_db))
    analytics_db = settings.resolve(settings.analytics_db)
    app.extensions["kindred.analytics"] = Analytics(
        analytics_db, settings.analytics_enabled, settings.analytics_retention_days,
        settings.analytics_events_per_minute, settings.analytics_sessions)
    app.extensions["kindred.popularity"] = PopularityFeed(analytics_db, settings.analytics_enabled)
    app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # Only the client address: the scheme comes through gunicorn's forwarded_allow_ips.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=0)  # type: ignore[method-assign]

    app.url_map.converters["article_id"] = ArticleIdConverter
    app.url_map.merge_slashes = False  # "/articles//x" is the article "/x", not a redirect
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    # The first release served /api/...; keep those URLs working.
    app.register_blueprint(api.blueprint, url_prefix="/api", name="api_legacy")
    app.register_blueprint(ops.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(openapi.blueprint)
    replication.register(app)
    errors.register(app)
    app.before_request(enforce_body_limit)
    pages.register(app)
    headers.register(app, settings)
    ops.register(app)
    return app
