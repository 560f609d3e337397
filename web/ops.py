"""Operations endpoints: health."""

from __future__ import annotations

from flask import Blueprint, jsonify

from search.versions import IndexNotFound
from web.context import search_service, settings
from web.replication import replica_health

blueprint = Blueprint("ops", __name__)


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
