"""What a build or a write can fail with, in a module of its own: the web app maps these to
answers without importing the writing side itself (a serving worker loads it only for an
admin write)."""

from __future__ import annotations


class BuildError(RuntimeError):
    """A build that cannot produce a version worth serving."""
