"""CSV with a header row naming the article fields (`tags` comma-separated inside a cell)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator

from indexer.sources.records import Item, Rejected, open_binary, to_record

csv.field_size_limit(8_000_000)


def read_csv(path: Path) -> Iterator[Item]:
    with open_binary(path) as fh:
        # surrogateescape keeps the file readable past a bad byte; that row is rejected.
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.DictReader(text)
        try:
            header = reader.fieldnames
        except csv.Error as exc:
            yield Rejected(f"{path}:1", f"unreadable CSV header: {exc}")
            return
        if not header or "id" not in header or "title" not in header:
            yield Rejected(f"{path}:1", "CSV header must name at least 'id' and 'title' columns")
            return
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield Rejected(f"{path}:{reader.line_num}", f"malformed CSV: {exc}")
                continue
            location = f"{path}:{reader.line_num}"
            if None in row:
                yield Rejected(location, f"row has {len(header) + len(row[None])} cells, header has {len(header)}")
                continue
            if any(_has_bad_bytes(v) for v in row.values() if v):
                yield Rejected(location, "row is not valid UTF-8")
                continue
            yield to_record(row, location)


def _has_bad_bytes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
