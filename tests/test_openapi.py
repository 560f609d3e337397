"""The API against its own OpenAPI description: schemathesis generates requests from
/openapi.json, valid and invalid ones, with and without the admin token, and runs every
check (`--checks all`): no 5xx, statuses and bodies as documented, what the document
forbids refused and what it allows accepted. schemathesis.toml (the repository root) says
which refusals besides the usual 4xx the API documents."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from analytics.events import MAX_EVENT_BYTES
from search.article import MAX_ID_CHARS, MAX_SHORT_FIELD_CHARS
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.reliability.fuzzing import cases, count
from web.app import create_app

CONFIG = Path(__file__).resolve().parents[1] / "schemathesis.toml"


@pytest.fixture(scope="module")
def api_app(tmp_path_factory, sample_index):
    root = tmp_path_factory.mktemp("openapi")
    shutil.copytree(sample_index / "index", root / "index", symlinks=True)
    # No per-client event limit: every generated event comes from the same test client.
    return create_app(make_settings(root, analytics_events_per_minute=0))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("token", [True, False], ids=["token", "no-token"])
def test_api_conforms_to_its_schema(api_app, mode, token):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api_app, config=SchemathesisConfig.from_path(CONFIG))
    # A full rebuild per generated case would only time out the suite; it has its own tests.
    schema = schema.exclude(path="/api/v1/reindex")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if token else {}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode == GenerationMode.NEGATIVE and not (operation.definition.raw.get("parameters")
                                                     or operation.definition.raw.get("requestBody")):
            continue  # nothing in the request to make invalid (/healthz)

        # 25 per operation in CI, the same 25 on every run; `make fuzz` (--hypothesis-profile=fuzz)
        # runs 500 random ones. Fixed in CI because schemathesis can make a "negative" query whose
        # sent form is valid (a boolean category sent as "true": schemathesis issues 3056, 4600),
        # which would fail a run by chance rather than by a change in the API.
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=max(25, cases(0.05)), deadline=None, suppress_health_check=list(HealthCheck),
                  database=None, derandomize=cases(0.05) <= 25)
        def check(case):
            count(f"API {operation.label}")
            case.call_and_validate(headers=headers)

        check()
        checked.append(operation.label)
    assert len(checked) >= 9


def test_the_description_lists_every_api_route(api_app):
    described = set(api_app.test_client().get("/openapi.json").get_json()["paths"])
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in api_app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/")}
    assert routes == {p for p in described if p.startswith("/api/v1/")}


def test_the_description_reads_its_limits_from_the_settings(tmp_path, sample_index):
    """Every maximum in the document is the setting or the declaration the server enforces
    (non-default values, so a number written into openapi.py would show)."""
    shutil.copytree(sample_index / "index", tmp_path / "index", symlinks=True)
    s = make_settings(tmp_path, search_max_query_chars=321, search_max_page=17, search_page_size=7,
                      search_max_page_size=13, suggest_limit=3, suggest_max_limit=11, related_k=9, related_limit=4,
                      max_batch_size=42)
    doc = create_app(s).test_client().get("/openapi.json").get_json()
    paths = doc["paths"]

    def param(path: str, name: str) -> dict:
        return next(p["schema"] for p in paths[path]["get"]["parameters"] if p["name"] == name)

    assert param("/api/v1/search", "q")["maxLength"] == s.search_max_query_chars
    assert param("/api/v1/search", "page")["maximum"] == s.search_max_page
    assert param("/api/v1/search", "per_page")["maximum"] == s.search_max_page_size
    assert param("/api/v1/suggest", "q")["maxLength"] == s.search_max_query_chars
    assert param("/api/v1/suggest", "limit")["maximum"] == s.suggest_max_limit
    assert param("/api/v1/related/{article_id}", "limit")["maximum"] == s.related_k
    assert param("/api/v1/related", "limit")["maximum"] == s.related_k
    body = paths["/api/v1/articles"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert body[1]["maxItems"] == body[2]["properties"]["articles"]["maxItems"] == s.max_batch_size
    assert f"({s.max_batch_size})" in paths["/api/v1/articles"]["post"]["responses"]["413"]["description"]
    assert f"{MAX_EVENT_BYTES:,}" in paths["/api/v1/events"]["post"]["responses"]["413"]["description"]
    article = doc["components"]["schemas"]["Article"]["properties"]
    assert article["id"]["maxLength"] == MAX_ID_CHARS and article["title"]["maxLength"] == MAX_SHORT_FIELD_CHARS

    client = create_app(s).test_client()
    assert client.get("/api/v1/search?q=" + "k" * 321).status_code == 200
    assert client.get("/api/v1/search?q=" + "k" * 322).status_code == 400
    assert client.get("/api/v1/suggest?q=" + "k" * 322).status_code == 400
    assert client.get("/api/v1/suggest?q=ke&limit=11").status_code == 200
    assert client.get("/api/v1/suggest?q=ke&limit=12").status_code == 400
    assert len(client.get("/api/v1/suggest?q=ke").get_json()["suggestions"]) <= s.suggest_limit
