"""Readers: files of many formats -> Article records, with every bad record reported.

Each reader yields `Article`s, `Rejected` records (file and line/record, a message) and
`Skipped` ones (drafts, attachments): one bad record never stops the others.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path
from typing import Callable, Iterable, Iterator

from indexer.sources.bounded import TooLarge
from indexer.sources.namespaces import id_prefixes, with_id_prefix
from indexer.sources.records import Item, Record, Rejected, Skipped
from search.config import Settings

log = logging.getLogger(__name__)

__all__ = ["Item", "Record", "Rejected", "Skipped", "read_paths", "reader_for", "SUPPORTED_SUFFIXES"]


# Records from a file read before its reader failed are kept; the rest of it is rejected.
READER_FAILED = "the reader failed on this file"
DUPLICATE_WAY_OUT = ("to index both, give one of their sources its own id prefix (setting id_prefixes, or "
                     "kindred index --id-prefix PATH=PREFIX)")


def _readers() -> dict[str, Callable[[Path], Iterator[Item]]]:
    from indexer.sources import csvfile, html, jsonl, markdown, wxr

    return {
        ".jsonl": jsonl.read_json_lines,
        ".ndjson": jsonl.read_json_lines,
        ".json": jsonl.read_json,
        ".csv": csvfile.read_csv,
        ".md": markdown.read_markdown,
        ".markdown": markdown.read_markdown,
        ".html": html.read_html,
        ".htm": html.read_html,
        ".xml": wxr.read_wxr,
    }


SUPPORTED_SUFFIXES = tuple(_readers())


def _suffix(path: Path) -> str:
    suffixes = path.suffixes
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return suffixes[-2].lower()
    return path.suffix.lower()


def reader_for(path: Path) -> Callable[[Path], Iterator[Item]] | None:
    return _readers().get(_suffix(path))


def _walk(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if not name.startswith(".") and reader_for(path) is not None:
                yield path


def read_paths(paths: Iterable[Path], settings: Settings | None = None) -> Iterator[Item]:
    """Every article in the given files and directories (walked recursively), in a stable
    order, its id in its source's namespace (setting `id_prefixes`, and WordPress exports read
    together: see `namespaces`). A later record with an id already seen is rejected, naming
    the first place and the way out."""
    listed = [(Path(path), _files(Path(path))) for path in paths]
    prefixes = id_prefixes([f for _, files in listed for f in files or ()],
                           settings.id_prefixes if settings else {}, settings.base_dir if settings else Path("."))
    seen: dict[str, str] = {}
    for path, files in listed:
        if files is None:
            yield Rejected(str(path), "no such file or directory")
            continue
        for file in files:
            for item in _read(file):
                if isinstance(item, Record):
                    item = with_id_prefix(item, prefixes.get(file, ""))
                if isinstance(item, Record):
                    first = seen.get(item.article.id)
                    if first is not None:
                        yield Rejected(item.location, f"duplicate id {item.article.id!r} (first seen at {first}, which "
                                                      f"is kept); {DUPLICATE_WAY_OUT}")
                        continue
                    seen[item.article.id] = item.location
                yield item


def _files(path: Path) -> list[Path] | None:
    if path.is_dir():
        return list(_walk(path))
    return [path] if path.is_file() else None


def _read(file: Path) -> Iterator[Item]:
    """One file's items; whatever goes wrong in its reader rejects the rest of the file only."""
    reader = reader_for(file)
    if reader is None:
        yield Rejected(str(file), f"unsupported file type (expected one of {', '.join(SUPPORTED_SUFFIXES)})")
        return
    try:
        yield from reader(file)
    except TooLarge as exc:
        yield Rejected(str(file), str(exc))
    except OSError as exc:
        yield Rejected(str(file), f"cannot read: {exc.strerror or exc}")
    except (EOFError, zlib.error) as exc:  # a truncated or corrupt .gz file
        yield Rejected(str(file), f"cannot read: corrupt compressed file ({exc})")
    except Exception as exc:  # noqa: BLE001 - one unreadable file never stops a build
        log.exception("reading %s failed", file)
        yield Rejected(str(file), f"{READER_FAILED}: {type(exc).__name__}: {str(exc)[:200]}")
