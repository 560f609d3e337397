"""The tally of fuzz cases and payload checks in pytest's summary (the live server these
tests share is `live` in tests/conftest.py)."""

from __future__ import annotations

from tests.reliability.fuzzing import CASES


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not CASES:
        return
    failed = len(terminalreporter.stats.get("failed", []))
    terminalreporter.write_sep("-", "fuzz cases and XSS payload checks")
    width = max(len(name) for name in CASES)
    for name, n in sorted(CASES.items()):
        terminalreporter.write_line(f"{name:<{width}}  {n:>7,}")
    fuzz = sum(n for name, n in CASES.items() if not name.startswith("xss"))
    xss = sum(n for name, n in CASES.items() if name.startswith("xss"))
    terminalreporter.write_line(f"fuzz cases run: {fuzz:,}; XSS payload checks: {xss:,} "
                                f"(an unescaped payload fails its test); failing tests: {failed}")
