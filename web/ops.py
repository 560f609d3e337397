"""Operations: /healthz and /metrics, and what every request leaves behind: one clock read
at its start and end, feeding both the access-log line and the request metrics."""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from search.versions import IndexNotFound
from web import metrics
from web.context import search_service, settings
from web.replication import replica_health

blueprint = Blueprint("ops", __name__)
access_log = logging.getLogger("kindred.access")


@blueprint.get("/healthz")
def healthz():
    replica = replica_health(settings())
    try:
        health = search_service().health()
    except IndexNotFound:
        if replica is None:
            raise
        # A replica says why it has nothing to serve yet: its primary is down, or it is downloading.
        error = {"code": "no_index", "message": "this replica has received no index from its primary yet"}
        return jsonify({"error": error, "replica": replica}), 503
    if replica is not None:
        health["replica"] = replica
    return jsonify(health)


@blueprint.get("/metrics", endpoint="metrics")
def metrics_text():
    body, content_type = metrics.exposition(current_app)
    # content_type, not mimetype: Flask would append a second charset to the one it has.
    return Response(body, content_type=content_type)


def register(app: Flask) -> None:
    @app.before_request
    def start_clock():
        g.kindred_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        started = g.pop("kindred_started", None)
        seconds = time.perf_counter() - started if started is not None else None
        log_request(request.method, request.path, request.endpoint, response.status_code, seconds,
                    response.calculate_content_length())
        return response


def log_request(method: str, path: str, endpoint: str | None, status: int, seconds: float | None,
                size: int | None) -> None:
    """What every answered request leaves: its metrics and its access-log line."""
    if seconds is not None and endpoint != "ops.metrics":
        metrics.observe(endpoint or "unknown", method, status, seconds)
    if access_log.isEnabledFor(logging.INFO):
        # No IP address or user agent: readers stay anonymous.
        access_log.info(json.dumps({
            "method": method,
            "path": path,
            "endpoint": endpoint,
            "status": status,
            "ms": round(seconds * 1000, 2) if seconds is not None else None,
            "bytes": size,
        }))
