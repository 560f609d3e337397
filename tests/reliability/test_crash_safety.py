"""Crash safety, small (`make crash` kills 20 builds): builds SIGKILLed at random moments
while a real server answers from the index; the previous version keeps serving, unchanged,
and the next build succeeds and cleans up."""

from __future__ import annotations

from tests.reliability.crash import CrashConfig, run_crash, summary


def test_killed_builds_never_disturb_serving(live, tmp_path):
    config = CrashConfig(kills=3, extra_articles=0, spawn="fork", seed=5)
    result = run_crash(tmp_path, config, log=print, settings=live.settings, server=live.server)
    assert result.passed, summary(result)
    assert result.kills == result.survived == 3
    assert all(r["survived"] for r in result.rounds)
