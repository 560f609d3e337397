"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json.

Every limit in it is read from the settings the server enforces, and the Article and Event
schemas are made from the declarations that validate them (search.article.ARTICLE_FIELDS,
analytics.events.EVENT_FIELDS), so the document and the server cannot disagree.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from flask import Blueprint, jsonify

from analytics.events import EVENT_FIELDS, MAX_EVENT_BYTES
from search.article import ARTICLE_FIELDS, MAX_ID_CHARS
from search.config import Settings
from web.context import settings

blueprint = Blueprint("openapi", __name__)

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_DATE = {"type": ["string", "null"], "format": "date"}
# Query flags: true/false, or 1/0 as the search page's own links write them.
_FLAG = {"enum": [True, False, 1, 0]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description, **extra}


ARTICLE_ID = {"name": "article_id", "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": "^[^/?#%]+$"},
              "description": "The article's id."}
# The HTTP server's own limit on the request line (gunicorn's largest), before Kindred sees it.
URI_TOO_LONG = {"description": "Request line over 8,190 bytes (answered by the HTTP server, as HTML).",
                "content": {"text/html": {"schema": _STRING}}}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"],
                                 "properties": {"code": _STRING, "message": _STRING}}},
    },
    "Hit": {
        "type": "object",
        "required": ["id", "title", "title_html", "snippet", "url", "score", "category", "tags", "published", "pinned"],
        "properties": {
            "id": _STRING, "title": _STRING,
            "title_html": {"type": "string", "description": "Escaped HTML with <mark> around matching words."},
            "snippet": {"type": "string", "description": "Escaped HTML with <mark> around matching words."},
            "url": {"type": "string", "format": "uri"}, "score": {"type": "number"}, "category": _STRING,
            "tags": {"type": "array", "items": _STRING}, "published": _DATE, "pinned": {"type": "boolean"},
        },
    },
    "Facet": {
        "type": "object", "required": ["key", "label", "count", "selected"],
        "properties": {"key": _STRING, "label": _STRING, "count": {"type": "integer"}, "selected": {"type": "boolean"}},
    },
    "Banner": {
        "type": "object", "required": ["rule", "kind", "title", "text", "links"],
        "properties": {
            "rule": _STRING, "kind": {"type": "string", "enum": ["info", "urgent"]}, "title": _STRING, "text": _STRING,
            "links": {"type": "array", "items": {"type": "object", "required": ["label", "href"],
                                                  "properties": {"label": _STRING, "href": _STRING}}},
        },
    },
    "SearchResults": {
        "type": "object",
        "required": ["query", "total", "page", "per_page", "pages", "sort", "hits", "facets", "corrected",
                     "suggestion", "banners", "took_ms", "version"],
        "properties": {
            "query": _STRING, "total": {"type": "integer", "minimum": 0}, "page": {"type": "integer"},
            "per_page": {"type": "integer"}, "pages": {"type": "integer"},
            "sort": {"type": "string", "enum": ["relevance", "date"]},
            "hits": {"type": "array", "items": _ref("Hit")},
            "facets": {"type": "object", "additionalProperties": {"type": "array", "items": _ref("Facet")}},
            "corrected": {**_NULLABLE_STRING, "description": "The query searched instead of a misspelled one."},
            "suggestion": {**_NULLABLE_STRING, "description": "Did you mean."},
            "banners": {"type": "array", "items": _ref("Banner")},
            "took_ms": {"type": "number"}, "version": _STRING,
        },
    },
    "Suggestions": {
        "type": "object", "required": ["query", "suggestions"],
        "properties": {
            "query": _STRING,
            "suggestions": {"type": "array", "items": {
                "type": "object", "required": ["kind", "text", "id", "url"],
                "properties": {"kind": {"type": "string", "enum": ["article", "query"]}, "text": _STRING,
                               "id": _NULLABLE_STRING, "url": _NULLABLE_STRING}}},
        },
    },
    "RelatedItem": {
        "type": "object",
        "required": ["id", "title", "url", "teaser", "score", "kind", "why", "category", "published", "image"],
        "properties": {
            "id": _STRING, "title": _STRING, "url": _STRING,
            "teaser": {"type": "string", "description": "Plain text, at most teaser_length characters plus an ellipsis."},
            "score": {"type": "number"}, "kind": {"type": "string", "enum": ["similar", "pinned", "fallback"]},
            "why": {"type": "array", "items": _STRING, "description": "Top shared words, for editors."},
            "category": _STRING, "published": _DATE, "image": _NULLABLE_STRING,
        },
    },
    "Related": {
        "type": "object", "required": ["id", "related"],
        "properties": {"id": _STRING, "related": {"type": "array", "items": _ref("RelatedItem")}},
    },
    "Article": ARTICLE_FIELDS.schema(),
    "Snapshot": {
        "type": "object",
        "required": ["id", "version", "generation", "created", "published", "checksum", "size", "files", "archive"],
        "properties": {
            "id": _STRING, "version": _STRING, "generation": {"type": "integer", "minimum": 0}, "created": _STRING,
            "published": _STRING, "checksum": _STRING, "size": {"type": "integer", "minimum": 0},
            "files": {"type": "array", "items": {"type": "object", "required": ["path", "size", "sha256"],
                                                  "properties": {"path": _STRING, "size": {"type": "integer"},
                                                                 "sha256": _STRING}}},
            "archive": {"type": "string", "description": "Where the snapshot's tar archive is downloaded."},
        },
    },
    "Versions": {
        "type": "object", "required": ["current", "versions", "snapshot"],
        "properties": {
            "current": _NULLABLE_STRING,
            "versions": {"type": "array", "items": {
                "type": "object", "required": ["name", "created", "doc_count", "current"],
                "properties": {"name": _STRING, "created": _NULLABLE_STRING,
                               "doc_count": {"type": ["integer", "null"]}, "current": {"type": "boolean"}}}},
            "snapshot": {"oneOf": [_ref("Snapshot"), {"type": "null"}],
                         "description": "The newest index state published to replicas (null when not publishing)."},
        },
    },
    "ReplicaHealth": {
        "type": "object", "description": "On a read replica only: what it last saw of its primary.",
        "required": ["primary", "version", "generation", "lag_s", "primary_reachable", "error", "checked_s",
                     "downloading"],
        "properties": {
            "primary": _STRING, "version": _NULLABLE_STRING, "generation": {"type": ["integer", "null"]},
            "lag_s": {"type": ["number", "null"],
                      "description": "Seconds since the replica last served the primary's latest state."},
            "primary_reachable": {"type": ["boolean", "null"]}, "error": _NULLABLE_STRING,
            "checked_s": {"type": ["number", "null"], "description": "Seconds since its last check of the primary."},
            "downloading": _NULLABLE_STRING,
        },
    },
    "Event": EVENT_FIELDS.schema(),
}

BAD_REQUEST = _error("Input over a documented limit or malformed.")
NOT_FOUND = _error("No such article.")
# Without an Authorization header an admin operation answers 401 whether or not admin is
# enabled; with one while admin_token is empty, 403.
ADMIN_ERRORS = {"401": _error("Missing or wrong bearer token."),
                "403": _error("A bearer token was sent but admin is disabled (no admin_token set)."),
                "429": _error("Too many wrong tokens from this client lately; see the Retry-After header.")}
REPLICA = _error("This server is a read replica (`read_only_replica`; `error.primary` is the primary's URL, "
                 "which takes writes).")


def spec(s: Settings) -> dict[str, Any]:
    limit_related = _query("limit", {"type": "integer", "minimum": 1, "maximum": s.related_k},
                           "How many related articles (default related_limit).")
    batch = {"type": "array", "items": _ref("Article"), "minItems": 1, "maxItems": s.max_batch_size}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kindred", "version": version("kindred"),
            "description": "Site search and related articles. Every path is also served under /api/ "
                           "(without v1) for the first release's clients.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/v1/search": {"get": {
                "summary": "Search articles",
                "parameters": [
                    _query("q", {"type": "string", "maxLength": s.search_max_query_chars},
                           'Words, "phrases", -exclusions, prefix*, category:x, tag:y.'),
                    _query("category", {"type": "array", "items": _STRING}, "Category filter (any of).",
                           style="form", explode=True),
                    _query("tag", {"type": "array", "items": _STRING}, "Tag filter (all of).", style="form", explode=True),
                    _query("sort", {"type": "string", "enum": ["relevance", "date"]}, "Order."),
                    _query("page", {"type": "integer", "minimum": 1, "maximum": s.search_max_page}, "Page number."),
                    _query("per_page", {"type": "integer", "minimum": 1, "maximum": s.search_max_page_size},
                           "Results per page."),
                    _query("exact", _FLAG, "Search the words as typed (no spelling correction)."),
                    _query("facets", _FLAG, "Include category and tag counts."),
                ],
                "responses": {"200": _json(_ref("SearchResults"), "Results."), "400": BAD_REQUEST,
                              "414": URI_TOO_LONG},
            }},
            "/api/v1/suggest": {"get": {
                "summary": "Autocomplete",
                "parameters": [
                    _query("q", {"type": "string", "maxLength": s.search_max_query_chars}, "What the reader typed so far."),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": s.suggest_max_limit},
                           "How many (default suggest_limit)."),
                ],
                "responses": {"200": _json(_ref("Suggestions"), "Suggestions."), "400": BAD_REQUEST,
                              "414": URI_TOO_LONG},
            }},
            "/api/v1/related/{article_id}": {"get": {
                "summary": "Related articles of an article",
                "parameters": [ARTICLE_ID, limit_related],
                "responses": {"200": _json(_ref("Related"), "Related articles (ETag; If-None-Match gives 304)."),
                              "304": {"description": "Not modified."}, "400": BAD_REQUEST, "404": NOT_FOUND},
            }},
            "/api/v1/related": {"get": {
                "summary": "Related articles of the article at a URL",
                "parameters": [_query("url", {"type": "string", "minLength": 1}, "The article's URL.", required=True),
                               limit_related],
                "responses": {"200": _json(_ref("Related"), "Related articles."), "304": {"description": "Not modified."},
                              "400": BAD_REQUEST, "404": NOT_FOUND, "414": URI_TOO_LONG},
            }},
            "/api/v1/articles/{article_id}": {
                "get": {"summary": "One article", "parameters": [ARTICLE_ID],
                        "responses": {"200": _json(_ref("Article"), "The article."), "404": NOT_FOUND}},
                "delete": {"summary": "Delete an article (admin)", "parameters": [ARTICLE_ID], "security": [{"bearer": []}],
                           "responses": {"200": _json({"type": "object"}, "Deleted."), "404": NOT_FOUND, "409": REPLICA,
                                         **ADMIN_ERRORS}},
            },
            "/api/v1/articles": {method: {
                "summary": "Add or replace articles (admin)", "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    _ref("Article"), batch,
                    {"type": "object", "required": ["articles"], "properties": {"articles": batch}}]}}}},
                "responses": {
                    "200": _json({"type": "object"}, "Indexed: searchable and related on return."),
                    "400": BAD_REQUEST,
                    "409": REPLICA,
                    "413": _error(f"More than max_batch_size ({s.max_batch_size}) articles (`batch_too_large`), or a "
                                  f"body over max_body_bytes ({s.max_body_bytes:,} bytes)."),
                    "422": _error("An article is invalid; nothing was written."), **ADMIN_ERRORS},
            } for method in ("post", "put")},
            "/api/v1/reindex": {"post": {
                "summary": "Full rebuild from the configured sources (admin)", "security": [{"bearer": []}],
                "responses": {"200": _json({"type": "object"}, "The new version."),
                              "409": _error("Another build is running (`busy`), or this server is a read replica "
                                            "(`read_only_replica`, with the primary's URL in `error.primary`)."),
                              **ADMIN_ERRORS},
            }},
            "/api/v1/versions": {"get": {
                "summary": "Index versions, and the snapshot a primary publishes to its replicas",
                "responses": {"200": _json(_ref("Versions"), "Versions on disk, newest first.")},
            }},
            "/api/v1/versions/{snapshot_id}/archive": {"get": {
                "summary": "Download a published snapshot (replicas)", "security": [{"bearer": []}],
                "description": "A tar stream of the snapshot's files, to check against the listed sizes and sha256. "
                               "Takes the replication_token, not the admin token.",
                "parameters": [{"name": "snapshot_id", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9A-Za-z][0-9A-Za-z_.-]*$"},
                                "description": "A snapshot id from /api/v1/versions."}],
                "responses": {"200": {"description": "The archive.", "content": {"application/x-tar": {}}},
                              "401": _error("Missing or wrong replication token."),
                              "403": _error("A bearer token was sent but replication is disabled (no "
                                            "replication_token set)."),
                              "404": _error("No such snapshot (it may have been replaced by a newer one).")},
            }},
            "/api/v1/events": {"post": {
                "summary": "Record a reader event (clicks, widget views)",
                "description": "Browsers' sendBeacon may post the same JSON as text/plain; it is read alike.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Event")}}},
                "responses": {"204": {"description": "Recorded."}, "400": BAD_REQUEST,
                              "413": _error(f"Over {MAX_EVENT_BYTES:,} bytes."),
                              "429": _error("Over analytics_events_per_minute from this client.")},
            }},
            "/healthz": {"get": {
                "summary": "Health", "responses": {"200": _json({"type": "object", "required": ["status", "version"],
                                                                 "properties": {"replica": _ref("ReplicaHealth")}},
                                                                "Serving."),
                                                   "503": _error("No index yet.")},
            }},
        },
    }


@blueprint.get("/openapi.json")
def openapi_json():
    return jsonify(spec(settings()))
