"""The API against its own OpenAPI description: schemathesis generates requests from
/openapi.json and checks every response (no 5xx, statuses and bodies as documented)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import ADMIN_TOKEN
from tests.reliability.fuzzing import cases, count
from web import create_app


@pytest.fixture(scope="module")
def api_app(tmp_path_factory, sample_index):
    import shutil

    from tests.conftest import make_settings

    root = tmp_path_factory.mktemp("openapi")
    shutil.copytree(sample_index / "index", root / "index", symlinks=True)
    return create_app(make_settings(root))


def test_api_conforms_to_its_schema(api_app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api_app)
    # A full rebuild per generated case would only time out the suite; it has its own tests.
    schema = schema.exclude(path="/api/v1/reindex")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        # 25 per operation in CI; `make fuzz` (--hypothesis-profile=fuzz) runs 500.
        @given(case=operation.as_strategy())
        @settings(max_examples=max(25, cases(0.05)), deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def check(case):
            count(f"API {operation.label}")
            case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

        check()
        checked.append(operation.label)
    assert len(checked) >= 10


def test_the_description_lists_every_api_route(api_app):
    described = set(api_app.test_client().get("/openapi.json").get_json()["paths"])
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in api_app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/")}
    assert routes == {p for p in described if p.startswith("/api/v1/")}
