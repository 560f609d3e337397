"""Operations endpoints: health."""

from __future__ import annotations

from flask import Blueprint, jsonify

from web.context import search_service, settings
from web.replication import replica_health

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz():
    health = search_service().health()
    replica = replica_health(settings())
    if replica is not None:
        health["replica"] = replica
    return jsonify(health)
