"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from kindred import __version__

blueprint = Blueprint("openapi", __name__)

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_DATE = {"type": ["string", "null"], "format": "date"}
# Ids: no control characters, no surrounding whitespace (search.article validates the same).
# \x85 is spelled out: Python strips it as whitespace, but JavaScript regexes (which clients
# and schemathesis follow) do not count it in \s.
_ID = {"type": "string", "minLength": 1, "maxLength": 200,
       "pattern": r"^[^\s\x00-\x1f\x7f\x85]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f\x85])?$"}
_SHORT_TEXT = {"type": "string", "maxLength": 2000}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description, **extra}


ARTICLE_ID = {"name": "article_id", "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^/?#%]+$"},
              "description": "The article's id."}
LIMIT_RELATED = _query("limit", {"type": "integer", "minimum": 1, "maximum": 20}, "How many related articles.")

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
    "Article": {
        "type": "object", "required": ["id", "title"],
        "properties": {
            "id": _ID, "title": _SHORT_TEXT,
            "body": {"type": "string", "maxLength": 2_000_000}, "summary": _SHORT_TEXT, "url": _SHORT_TEXT,
            "category": _SHORT_TEXT, "tags": {"type": "array", "items": _SHORT_TEXT, "maxItems": 100},
            "author": _SHORT_TEXT, "published": _DATE, "image": _SHORT_TEXT,
            "related_pins": {"type": "array", "items": _ID}, "related_blocks": {"type": "array", "items": _ID},
        },
    },
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
    "Event": {
        "type": "object", "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": ["result_click", "widget_impression", "widget_click"]},
            "query": _STRING, "source": _STRING, "target": _STRING, "position": {"type": "integer"},
            "targets": {"type": "array", "items": _STRING},
        },
    },
}

BAD_REQUEST = _error("Input over a documented limit or malformed.")
NOT_FOUND = _error("No such article.")
ADMIN_ERRORS = {"401": _error("Missing or wrong bearer token."), "403": _error("Admin disabled (no admin_token set)."),
                "429": _error("Too many wrong tokens from this client lately; see the Retry-After header.")}
REPLICA = _error("This server is a read replica (`read_only_replica`; `error.primary` is the primary's URL, "
                 "which takes writes).")


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kindred", "version": __version__,
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
                    _query("q", {"type": "string", "maxLength": 1000},
                           'Words, "phrases", -exclusions, prefix*, category:x, tag:y.'),
                    _query("category", {"type": "array", "items": _STRING}, "Category filter (any of).",
                           style="form", explode=True),
                    _query("tag", {"type": "array", "items": _STRING}, "Tag filter (all of).", style="form", explode=True),
                    _query("sort", {"type": "string", "enum": ["relevance", "date"]}, "Order."),
                    _query("page", {"type": "integer", "minimum": 1, "maximum": 100}, "Page number."),
                    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 50}, "Results per page."),
                    _query("exact", {"type": "boolean"}, "Search the words as typed (no spelling correction)."),
                    _query("facets", {"type": "boolean"}, "Include category and tag counts."),
                ],
                "responses": {"200": _json(_ref("SearchResults"), "Results."), "400": BAD_REQUEST},
            }},
            "/api/v1/suggest": {"get": {
                "summary": "Autocomplete",
                "parameters": [_query("q", {"type": "string", "maxLength": 1000}, "What the reader typed so far."),
                               _query("limit", {"type": "integer", "minimum": 1, "maximum": 20}, "How many.")],
                "responses": {"200": _json(_ref("Suggestions"), "Suggestions."), "400": BAD_REQUEST},
            }},
            "/api/v1/related/{article_id}": {"get": {
                "summary": "Related articles of an article",
                "parameters": [ARTICLE_ID, LIMIT_RELATED],
                "responses": {"200": _json(_ref("Related"), "Related articles (ETag; If-None-Match gives 304)."),
                              "304": {"description": "Not modified."}, "400": BAD_REQUEST, "404": NOT_FOUND},
            }},
            "/api/v1/related": {"get": {
                "summary": "Related articles of the article at a URL",
                "parameters": [_query("url", {"type": "string", "minLength": 1}, "The article's URL.", required=True),
                               LIMIT_RELATED],
                "responses": {"200": _json(_ref("Related"), "Related articles."), "304": {"description": "Not modified."},
                              "400": BAD_REQUEST, "404": NOT_FOUND},
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
                    _ref("Article"), {"type": "array", "items": _ref("Article"), "minItems": 1, "maxItems": 500},
                    {"type": "object", "required": ["articles"],
                     "properties": {"articles": {"type": "array", "items": _ref("Article"), "minItems": 1,
                                                 "maxItems": 500}}}]}}}},
                "responses": {"200": _json({"type": "object"}, "Indexed: searchable and related on return."),
                              "400": BAD_REQUEST, "413": _error("Too many articles or too large."),
                              "409": REPLICA, "422": _error("An article is invalid; nothing was written."),
                              **ADMIN_ERRORS},
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
                              "403": _error("Replication disabled (no replication_token set)."),
                              "404": _error("No such snapshot (it may have been replaced by a newer one).")},
            }},
            "/api/v1/events": {"post": {
                "summary": "Record a reader event (clicks, widget views)",
                "description": "Browsers' sendBeacon may post the same JSON as text/plain; it is read alike.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Event")}}},
                "responses": {"204": {"description": "Recorded."}, "400": BAD_REQUEST, "413": _error("Too large.")},
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
    return jsonify(spec())
