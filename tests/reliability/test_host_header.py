"""A forged Host header cannot poison a shared cache: while `site_url` is unset, links in
cacheable responses follow the Host header, so those responses say `Vary: Host`. Checked
with a real shared cache: nginx's proxy_cache (default key, which leaves the Host out) in
front of a real `kindred serve`."""

from __future__ import annotations

import json

import pytest

from tests.browser.servers import KindredServer, WIDGET_ARTICLE
from tests.conftest import make_settings
from tests.nginx import Nginx, nginx_binary
from tests.reliability.harness import Http
from web.app import create_app

pytestmark = pytest.mark.slow

FORGED = "evil.example"
RELATED = f"/api/v1/related/{WIDGET_ARTICLE}?limit=3"


def caching_proxy(upstream_port: int, workdir) -> callable:
    """A shared cache as a CDN or a caching proxy would be set up, honouring Cache-Control."""
    def config(port: int) -> str:
        return f"""
proxy_cache_path {workdir / "cache"} keys_zone=shared:1m;
server {{
    listen {port};
    location / {{
        proxy_pass http://127.0.0.1:{upstream_port};
        proxy_set_header Host $http_host;
        proxy_cache shared;
        add_header X-Cache $upstream_cache_status;
    }}
}}
"""
    return config


def urls(body: bytes) -> list[str]:
    return [item["url"] for item in json.loads(body)["related"]]


def test_a_forged_host_does_not_reach_other_readers_through_a_shared_cache(tmp_path, sample_index):
    settings = make_settings(sample_index, analytics_db=str(tmp_path / "analytics.sqlite"), site_url="")
    with KindredServer(settings, tmp_path / "kindred") as kindred:
        nginx = Nginx(nginx_binary(), tmp_path / "nginx", caching_proxy(kindred.port, tmp_path / "nginx")).start()
        try:
            http = Http(nginx.url)
            status, headers, body = http.request("GET", RELATED, headers={"Host": FORGED})
            assert status == 200 and all(url.startswith(f"http://{FORGED}/") for url in urls(body))
            assert headers["cache-control"].startswith("public")
            # A reader asking with the real host gets links to the real host, twice (cached).
            real = f"127.0.0.1:{nginx.port}"
            for _ in range(2):
                status, headers, body = http.request("GET", RELATED, headers={"Host": real})
                assert status == 200 and urls(body) and all(url.startswith(f"http://{real}/") for url in urls(body))
            assert headers.get("x-cache") == "HIT"  # the cache does serve it: it keeps one copy per host
        finally:
            nginx.stop()


@pytest.mark.parametrize("path", [RELATED, f"/widget/related/{WIDGET_ARTICLE}", "/api/v1/search?q=molly"])
def test_responses_whose_links_follow_the_host_vary_on_it(sample_settings, path):
    unset = create_app(sample_settings.replace(site_url="")).test_client()
    response = unset.get(path, headers={"Host": FORGED})
    assert "host" in {v.strip().lower() for v in response.headers.get("Vary", "").split(",")}
    fixed = create_app(sample_settings.replace(site_url="https://search.example.org/")).test_client()
    response = fixed.get(path, headers={"Host": FORGED})
    assert FORGED not in response.get_data(as_text=True)  # site_url decides, the Host header cannot
    assert "host" not in response.headers.get("Vary", "").lower()


def test_pages_link_without_a_host(sample_settings):
    """Our own pages' links are paths: no Host header can change them."""
    unset = create_app(sample_settings.replace(site_url="")).test_client()
    response = unset.get("/?q=molly", headers={"Host": FORGED})
    assert response.status_code == 200 and FORGED not in response.get_data(as_text=True)
    assert "host" not in response.headers.get("Vary", "").lower()


def test_responses_without_links_do_not_vary_on_the_host(sample_settings):
    client = create_app(sample_settings.replace(site_url="")).test_client()
    for path in ("/widget.js", "/healthz"):
        assert "host" not in client.get(path).headers.get("Vary", "").lower()
