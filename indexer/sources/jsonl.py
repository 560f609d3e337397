"""JSON Lines (`.jsonl`, `.ndjson`, optionally gzipped) and JSON files (an array or one object)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from indexer.sources.bounded import MAX_RECORD_BYTES, json_containers_problem, read_document, read_lines, size
from indexer.sources.records import Item, Rejected, parse_problem, to_record


def read_json_lines(path: Path) -> Iterator[Item]:
    for number, raw in read_lines(path):
        location = f"{path}:{number}"
        if raw is None:
            yield Rejected(location, f"line is longer than {size(MAX_RECORD_BYTES)}")
            continue
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield Rejected(location, "line is not valid UTF-8")
            continue
        if not line.strip():
            continue
        problem = json_containers_problem(raw)
        if problem:
            yield Rejected(location, f"line {problem}")
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
    raw = read_document(path, advice=": write JSON Lines (.jsonl), read one line at a time, for big exports")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Rejected(str(path), f"not valid UTF-8 (byte {exc.start})")
        return
    problem = json_containers_problem(raw)
    if problem:
        yield Rejected(str(path), f"file {problem}: write JSON Lines (.jsonl), read one line at a time")
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
