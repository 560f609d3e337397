"""A search's wall-clock deadline (setting `search_timeout`).

The caps on a query (words, phrases, exclusions, postings, spelling work) bound what one
search can ask for; the deadline bounds what it may cost on a slow or busy machine. Each
stage checks it between units of work and the Whoosh engine checks it while collecting
matches, so a search that runs out of time stops and answers a clear error (HTTP 503)
instead of holding a worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


class SearchTimeout(RuntimeError):
    """The search ran past its deadline and was stopped (HTTP 503)."""


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() value
    seconds: float  # the budget it was made with, for the message

    @classmethod
    def after(cls, seconds: float) -> "Deadline":
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if time.monotonic() >= self.at:
            raise self.expired()

    def expired(self) -> SearchTimeout:
        return SearchTimeout(f"the search took longer than {self.seconds:g} s and was stopped; "
                             "try fewer or more specific words")


def check(deadline: Deadline | None) -> None:
    """Check `deadline` when there is one (rank() and evaluation run without)."""
    if deadline is not None:
        deadline.check()
