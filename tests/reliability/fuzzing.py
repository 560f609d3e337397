"""Fuzzing budgets and counts (importable without pytest).

Every fuzz test takes its number of cases from the Hypothesis profile in force: the default
profile in CI (max_examples 100, so a test with share 0.2 runs 20 cases) or the `fuzz`
profile of `make fuzz` (max_examples 10,000). `CASES` counts the cases actually run (each
generated input once, shrinking included); tests/reliability/conftest.py prints the tally.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings

CASES: Counter[str] = Counter()


def cases(share: float = 1.0, minimum: int = 10) -> int:
    return max(minimum, int(settings.default.max_examples * share))


def budget(share: float = 1.0, minimum: int = 10) -> settings:
    """Hypothesis settings for a fuzz test: `share` of the profile's max_examples, no deadline
    (timings vary on a loaded CI machine), no example database (the counts stay exact)."""
    return settings(max_examples=cases(share, minimum), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def count(name: str) -> None:
    CASES[name] += 1
