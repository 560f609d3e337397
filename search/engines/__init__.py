"""The engines behind the Engine protocol (search/engine.py), by name; each is imported only
when an index of its kind is created or opened."""

from __future__ import annotations

from pathlib import Path

from search.engine import Engine, Ranking


def create_engine(name: str, path: Path, ranking: Ranking | None = None) -> Engine:
    """A new, empty index of the named engine at path."""
    return _engine_class(name).create(path, ranking or Ranking())


def open_engine(name: str, path: Path, ranking: Ranking | None = None) -> Engine:
    return _engine_class(name).open(path, ranking or Ranking())


def _engine_class(name: str):
    if name == "whoosh":
        from search.engines.whoosh import WhooshEngine

        return WhooshEngine
    if name == "tantivy":
        try:
            from search.engines.tantivy import TantivyEngine
        except ImportError as exc:  # the optional extra is not installed
            raise RuntimeError("engine 'tantivy' needs the tantivy package: pip install 'tantivy>=0.27' "
                               "(or install Kindred with its extra: pip install -e '.[tantivy]')") from exc
        return TantivyEngine
    raise ValueError(f"unknown engine {name!r}")
