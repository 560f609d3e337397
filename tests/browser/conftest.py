"""Browser tests: Debian's Chromium driven by Playwright against real servers.

Never `playwright install`: the browser is /usr/bin/chromium, and a missing browser fails
the tests (launching raises), it never skips them.
"""

from __future__ import annotations

import pytest

from tests.browser.servers import CHROMIUM_LAUNCH, Servers, build_sample_index, start_servers
from tests.conftest import make_settings


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    """Debian's /usr/bin/chromium, headless, no sandbox (containers), no background traffic."""
    return {**CHROMIUM_LAUNCH, "args": list(CHROMIUM_LAUNCH["args"])}


@pytest.fixture(scope="session")
def servers(tmp_path_factory) -> Servers:
    """The sample site indexed into a temp dir, served by a real `kindred serve` (gunicorn,
    2 workers) on a free port, plus a third-party site on another port (another origin)."""
    root = tmp_path_factory.mktemp("browser")
    settings = build_sample_index(make_settings(root, site_name="Kindred Health"))
    running = start_servers(settings, root)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def kindred_url(servers) -> str:
    return servers.kindred.url


@pytest.fixture(scope="session")
def site_url(servers) -> str:
    return servers.site.url


@pytest.fixture(scope="session")
def base_url(kindred_url) -> str:
    """Kindred's URL. Also replaces pytest-playwright's fallback `base_url` fixture, a plugin
    instance method that pytest 9 deprecates (and this suite turns warnings into errors)."""
    return kindred_url


@pytest.fixture
def page(page):
    """Every page fails fast instead of hanging for 30 s on a missing element."""
    page.set_default_timeout(5000)
    page.set_default_navigation_timeout(10000)
    return page
