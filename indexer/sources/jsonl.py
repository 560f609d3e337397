"""JSON Lines (`.jsonl`, `.ndjson`, optionally gzipped) and JSON files (an array or one object)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from indexer.sources.records import Item, Rejected, parse_problem, read_text, read_text_lines, to_record


def read_json_lines(path: Path) -> Iterator[Item]:
    for number, line in read_text_lines(path):
        location = f"{path}:{number}"
        if line is None:
            yield Rejected(location, "line is not valid UTF-8")
            continue
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejected(location, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except (ValueError, RecursionError) as exc:  # huge numbers, absurd nesting
            yield Rejected(location, f"invalid JSON: {parse_problem(exc)}")
            continue
        yield to_record(data, location)


def read_json(path: Path) -> Iterator[Item]:
    try:
        text = read_text(path)
    except UnicodeDecodeError as exc:
        yield Rejected(str(path), f"not valid UTF-8 (byte {exc.start})")
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several objects, one per line: JSON Lines named .json
            yield from read_json_lines(path)
            return
        yield Rejected(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})")
        return
    except (ValueError, RecursionError) as exc:  # huge numbers, absurd nesting
        yield Rejected(str(path), f"invalid JSON: {parse_problem(exc)}")
        return
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    records = data if isinstance(data, list) else [data]
    for number, record in enumerate(records, start=1):
        yield to_record(record, f"{path}: record {number}")
