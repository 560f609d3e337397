"""Slow clients, small (`make slow-clients` runs the full one): 40 connections that never
finish their headers, held open for 8 s, while /healthz must keep answering."""

from __future__ import annotations

import pytest

from tests.browser.servers import KindredServer
from tests.reliability.slow_clients import run_slow_clients, summary

pytestmark = pytest.mark.slow


def test_slow_clients_do_not_take_the_server_down(tmp_path, sample_index):
    from tests.conftest import make_settings

    settings = make_settings(sample_index, analytics_db=str(tmp_path / "analytics.sqlite"))
    with KindredServer(settings, tmp_path / "server") as server:
        result = run_slow_clients(server, connections=40, seconds=8)
        assert result.passed, summary(result)
        assert result.probes_failed == 0 and result.slow_connections_closed_by_server > 0
