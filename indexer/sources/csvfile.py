"""CSV with a header row naming the article fields (`tags` comma-separated inside a cell)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator

from indexer.sources.bounded import MAX_RECORD_BYTES, TooLarge, open_binary, size
from indexer.sources.records import Item, Rejected, to_record

csv.field_size_limit(MAX_RECORD_BYTES)


class _RowBudget:
    """The lines of a text file, at most MAX_RECORD_BYTES (as characters) for one row,
    however many lines its quoted cells span: TooLarge past that, before holding more."""

    def __init__(self, text: io.TextIOBase):
        self._text = text
        self.used = 0

    def __iter__(self) -> Iterator[str]:
        while line := self._text.readline(MAX_RECORD_BYTES + 1 - self.used):
            self.used += len(line)
            if self.used > MAX_RECORD_BYTES:
                raise TooLarge(f"row is longer than {size(MAX_RECORD_BYTES)}")
            yield line


def read_csv(path: Path) -> Iterator[Item]:
    with open_binary(path) as fh:
        # surrogateescape keeps the file readable past a bad byte; that row is rejected.
        lines = _RowBudget(io.TextIOWrapper(fh, encoding="utf-8-sig", errors="surrogateescape", newline=""))
        # strict: a quote that is never closed is an error, not a cell swallowing the rest of the file
        reader = csv.reader(iter(lines), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            yield Rejected(f"{path}:1", f"unreadable CSV header: {exc}")
            return
        except TooLarge as exc:
            yield Rejected(f"{path}:1", f"header {exc}")
            return
        if not header or "id" not in header or "title" not in header:
            yield Rejected(f"{path}:1", "CSV header must name at least 'id' and 'title' columns")
            return
        while True:
            first_line = reader.line_num + 1  # a quoted cell may span lines: the row is named by its first
            lines.used = 0
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield Rejected(f"{path}:{first_line}", _malformed(exc, first_line, reader.line_num))
                continue
            except TooLarge as exc:
                yield Rejected(f"{path}:{first_line}", f"{exc}: the rest of the file is not read")
                return
            if not cells:
                continue  # a blank line
            location = f"{path}:{first_line}"
            if len(cells) > len(header):
                yield Rejected(location, f"row has {len(cells)} cells, header has {len(header)}")
                continue
            if any(_has_bad_bytes(cell) for cell in cells):
                yield Rejected(location, "row is not valid UTF-8")
                continue
            yield to_record(dict(zip(header, cells + [None] * (len(header) - len(cells)))), location)


def _malformed(exc: csv.Error, first_line: int, last_line: int) -> str:
    if "unexpected end of data" in str(exc):
        return (f"a quoted cell opened in the row starting on line {first_line} is never closed "
                f"(it runs to the end of the file, line {last_line})")
    return f"malformed CSV: {exc}"


def _has_bad_bytes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
