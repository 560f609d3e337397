"""The live-rebuild soak, small (`make soak` runs the full one): a real server under load
from another process while a full rebuild and 20 admin writes happen. No failed request,
every answer from a complete index version."""

from __future__ import annotations

from urllib.parse import quote

from tests.reliability.harness import Http
from tests.reliability.loadgen import state_etag
from tests.reliability.soak import SoakConfig, run_soak, summary


def test_the_load_generator_decodes_the_apps_etags(live):
    """loadgen.state_etag must compute the ETag the app sends, or the soak's version check
    would reject every related response (never accept a wrong one: it is a digest)."""
    http = Http(live.server.url)
    for article_id, limit in (("ketamine-addiction-treatment", 3), ("does-weed-have-calories", 5)):
        status, health = http.json("GET", "/healthz")
        assert status == 200
        state = f"{health['version']}.{health['generation']}"
        for prefix in ("/api/v1/related/", "/widget/related/"):
            status, headers, _ = http.request("GET", f"{prefix}{quote(article_id)}?limit={limit}")
            assert status == 200
            assert headers["etag"].strip('"') == state_etag(state, article_id, limit, live.server.url + "/")


def test_live_rebuild_under_load(live, tmp_path):
    config = SoakConfig(rebuilds=1, writes=20, requests=3000, seconds=180, extra_articles=0, threads=3,
                        write_pause=0.02, settle=0.3)
    result = run_soak(tmp_path, config, log=print, server=live.server, settings=live.settings)
    assert result.passed, summary(result)
    assert result.requests_served > 0 and result.requests_failed == 0
    assert len(result.completed_versions) == 2 and result.rebuilds[0]["status"] == 200
    assert set(result.search_versions_seen) <= set(result.completed_versions)
    assert set(result.related_states_seen) <= set(result.completed_versions)
    assert result.writes["done"] == 20 and result.writes["failed"] == 0
