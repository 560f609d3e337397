"""Admin sign-in under attack: a signed-out cookie is dead, wrong tokens are throttled per
client across workers, and the sign-in and sign-out forms need their CSRF token."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN_TOKEN, make_settings, sign_in
from tests.reliability.harness import ADMIN_TOKEN as LIVE_ADMIN_TOKEN, Http
from web.app import create_app
from web.editors import MAX_FAILURES


@pytest.fixture
def app(tmp_path, sample_index):
    app = create_app(make_settings(sample_index, admin_db=str(tmp_path / "admin.sqlite"),
                                   analytics_db=str(tmp_path / "analytics.sqlite")))
    yield app
    app.extensions["kindred.search"].close()


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_out(client) -> int:
    dashboard = client.get("/admin/analytics").get_data(as_text=True)
    return client.post("/admin/logout", data={"csrf_token": csrf_of(dashboard)}).status_code


def test_a_signed_out_session_cookie_no_longer_works(app):
    editor = app.test_client()
    assert sign_in(editor).status_code == 302
    stolen = editor.get_cookie("session").value
    assert sign_out(editor) == 302
    assert editor.get("/admin/analytics").status_code == 302  # this browser is signed out ...
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/admin/analytics")  # ... and so is any copy of its old cookie
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


def test_other_sessions_survive_a_sign_out(app):
    first, second = app.test_client(), app.test_client()
    assert sign_in(first).status_code == 302 and sign_in(second).status_code == 302
    assert sign_out(first) == 302
    assert second.get("/admin/analytics").status_code == 200


def test_sign_in_needs_the_forms_csrf_token(app):
    client = app.test_client()
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 400
    other = app.test_client()
    foreign = csrf_of(other.get("/admin/login").get_data(as_text=True))  # another browser's token
    client.get("/admin/login")
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": foreign}).status_code == 400
    assert client.get("/admin/analytics").status_code == 302  # not signed in
    page = client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": "forged"})
    assert page.status_code == 400 and "reload the page" in page.get_data(as_text=True)


def test_sign_out_needs_the_forms_csrf_token(app):
    editor = app.test_client()
    assert sign_in(editor).status_code == 302
    assert editor.post("/admin/logout").status_code == 400  # e.g. a form on another site
    assert editor.get("/admin/analytics").status_code == 200  # still signed in
    assert sign_out(editor) == 302


def test_wrong_tokens_are_throttled_per_client(app):
    attacker = app.test_client()
    for _ in range(MAX_FAILURES):
        assert sign_in(attacker, "guess").status_code == 401
    refused = sign_in(attacker, "guess")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert sign_in(attacker).status_code == 429  # not even the right token is read now
    api = attacker.delete("/api/v1/articles/nothing", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "too_many_requests"
    # Another client is not affected.
    other = app.test_client()
    assert sign_in(other, environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 302


def test_a_right_token_clears_the_clients_count(app):
    client = app.test_client()
    for _ in range(MAX_FAILURES - 1):
        assert sign_in(client, "guess").status_code == 401
    assert sign_in(client).status_code == 302
    for _ in range(MAX_FAILURES - 1):
        assert sign_in(client, "guess").status_code == 401


def test_wrong_bearer_tokens_count_a_missing_one_does_not(app):
    client = app.test_client()
    for _ in range(MAX_FAILURES + 3):
        assert client.delete("/api/v1/articles/nothing").status_code == 401  # no token: not a guess
    for _ in range(MAX_FAILURES):
        assert client.delete("/api/v1/articles/nothing", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.delete("/api/v1/articles/nothing", headers={"Authorization": "Bearer guess"}).status_code == 429


def test_the_limit_holds_across_workers(live):
    """A real `kindred serve` with 2 workers, each guess on a new connection, from one client
    behind a proxy it trusts (trusted_proxies = 1: X-Forwarded-For names the client)."""
    http = Http(live.server.url)
    attacker = {"X-Forwarded-For": "198.51.100.23"}
    guess = {**attacker, "Authorization": "Bearer guess"}
    statuses = [http.request("DELETE", "/api/v1/articles/nothing", headers=guess)[0] for _ in range(40)]
    assert statuses.count(401) == MAX_FAILURES and statuses.count(429) == 40 - MAX_FAILURES, statuses
    right = {"Authorization": f"Bearer {LIVE_ADMIN_TOKEN}"}
    assert http.request("DELETE", "/api/v1/articles/nothing", headers={**attacker, **right})[0] == 429
    # The right token from anyone else still works (404: no such article, so nothing deleted).
    other = {"X-Forwarded-For": "198.51.100.24"}
    assert http.request("DELETE", "/api/v1/articles/nothing", headers={**other, **right})[0] == 404
