"""Replication over HTTP (docs/scaling.md).

- `GET /api/v1/versions`: the versions on disk and the newest snapshot a primary publishes,
  with the size and sha256 of each of its files: what a replica needs to decide (public);
- `GET /api/v1/versions/<id>/archive`: that snapshot as a tar stream, for replicas
  (`Authorization: Bearer <replication_token>`; the admin token is not what it takes);
- on a replica, writes (upsert, delete, reindex) answer 409 `read_only_replica` with the
  primary's URL, and /healthz and /metrics report what its follower last saw.
"""

from __future__ import annotations

from typing import Any, Iterator

from flask import Blueprint, Flask, Response, jsonify, request, url_for
from prometheus_client.core import GaugeMetricFamily

from search.config import Settings
from search.replica_status import ReplicaStatus, read_status
from search.replication import DATA_DIR, LATEST_FILE, SNAPSHOT_FILE, archive_chunks, archive_size, read_listing, valid_id
from search.versions import IncompatibleIndex, Layout, read_manifest
from web.context import settings
from web.errors import ApiError
from web.http import check_bearer

blueprint = Blueprint("replication", __name__)
WRITE_ENDPOINTS = {"upsert_articles", "delete_article", "reindex"}


def _layout() -> Layout:
    return Layout(settings().resolve(settings().index_dir))


@blueprint.get("/versions")
def versions():
    layout = _layout()
    current = layout.current_name()
    listed = []
    for path in reversed(layout.complete_versions()):
        try:
            manifest = read_manifest(path)
        except IncompatibleIndex:
            manifest = {}
        listed.append({"name": path.name, "created": manifest.get("created"), "doc_count": manifest.get("doc_count"),
                       "current": path.name == current})
    latest = read_listing(layout.snapshots / LATEST_FILE)
    snapshot = None if latest is None else {
        **latest.to_json(), "archive": url_for("replication.archive", snapshot_id=latest.id)}
    return jsonify({"current": current, "versions": listed, "snapshot": snapshot})


@blueprint.get("/versions/<snapshot_id>/archive")
def archive(snapshot_id: str):
    check_bearer(settings().replication_token, "replication_token", "replication_disabled", "replication is")
    directory = _layout().snapshots / snapshot_id
    snapshot = read_listing(directory / SNAPSHOT_FILE) if valid_id(snapshot_id) else None
    if snapshot is None:
        raise ApiError(404, "not_found", f"no published snapshot {snapshot_id!r}: see /api/v1/versions")
    response = Response(archive_chunks(directory / DATA_DIR, snapshot), mimetype="application/x-tar")
    response.content_length = archive_size(snapshot)
    response.headers["Cache-Control"] = "no-store"
    return response


def refuse_writes_on_replica() -> Response | None:
    primary = settings().primary_url
    if not primary or request.blueprint not in ("api", "api_legacy"):
        return None
    if (request.endpoint or "").rsplit(".", 1)[-1] not in WRITE_ENDPOINTS:
        return None
    response = jsonify({"error": {"code": "read_only_replica", "primary": primary,
                                  "message": f"this server is a read replica: send writes to its primary, {primary}"}})
    response.status_code = 409
    return response


def replica_health(config: Settings) -> dict[str, Any] | None:
    """The `replica` part of /healthz on a replica (None on a primary or a single server)."""
    if not config.primary_url:
        return None
    status = read_status(Layout(config.resolve(config.index_dir)).replica_status)
    if status is None:
        status = ReplicaStatus(primary=config.primary_url, error="the follower has not reported yet")
    return status.health()


def replica_metrics(config: Settings) -> Iterator[GaugeMetricFamily]:
    health = replica_health(config)
    if health is None:
        return
    gauges = (("kindred_replica_lag_seconds", "Seconds since this replica last served its primary's latest state.",
               health["lag_s"]),
              ("kindred_replica_primary_reachable", "1 if the last check reached the primary, else 0.",
               1 if health["primary_reachable"] else 0),
              ("kindred_replica_generation", "Write generation of the primary's version this replica serves.",
               health["generation"]))
    for name, text, value in gauges:
        if value is not None:
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], value)
            yield gauge


def register(app: Flask) -> None:
    app.register_blueprint(blueprint, url_prefix="/api/v1")
    app.before_request(refuse_writes_on_replica)
