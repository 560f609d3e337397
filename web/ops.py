"""Operations endpoints: health."""

from __future__ import annotations

from flask import Blueprint, jsonify

from web.context import search_service

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(search_service().health())
