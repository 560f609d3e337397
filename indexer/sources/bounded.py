"""Reading source files with bounded memory: caps on raw and decompressed sizes.

A file read whole (JSON, Markdown, an HTML page) may hold MAX_DOCUMENT_BYTES; a file read
record by record (JSON Lines, CSV, a WordPress export) may be of any size, but one record
(a line, a row, an item) may hold MAX_RECORD_BYTES. A `.gz` file is decompressed as it is
read, never whole: past its first EXPANSION_FLOOR bytes it may expand at most
MAX_EXPANSION times. Text compresses 3 to 16 times (WordPress's test exports 8 and 16, the
evaluation corpora 3 to 5), 200 times when thousands of records repeat one body; a
decompression bomb 400 to 1,000 times, so that 1.5 MB would be a gigabyte to parse.
"""

from __future__ import annotations

import codecs
import io
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

MiB = 2**20
MAX_DOCUMENT_BYTES = 16 * MiB
MAX_RECORD_BYTES = 16 * MiB
MAX_EXPANSION = 300
EXPANSION_FLOOR = MiB // 4
_CHUNK = 16 * 1024
# Memory a JSON value takes grows with its objects and arrays (`[[],[],...]`: 20 bytes of
# memory per byte of text); articles have a handful, whole files of them some per article.
MAX_JSON_CONTAINERS = 1_000_000


class TooLarge(Exception):
    """Input past one of the limits above; the message names it."""


def size(limit: int) -> str:
    return f"{limit // MiB} MiB"


class _Decompressed(io.RawIOBase):
    """A .gz file (one or more gzip members, as gzip writes them), decompressed as it is read,
    counting exactly how much compressed input each output used: TooLarge once it expands
    too far. Corrupt data raises zlib.error, a truncated file EOFError."""

    def __init__(self, path: Path):
        self._file = path.open("rb")
        self._inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        self._input = b""  # read but not yet used
        self._consumed = 0
        self._produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._inflate.eof and not self._next_member():
                return 0
            if not self._input:
                self._input = self._file.read(_CHUNK)
                if not self._input:
                    if self._consumed == 0:
                        return 0  # an empty file
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
            data = self._inflate.decompress(self._input, len(buffer))
            self._consumed += len(self._input) - len(self._inflate.unconsumed_tail) - len(self._inflate.unused_data)
            self._input = self._inflate.unconsumed_tail
            if data:
                break
        buffer[:len(data)] = data
        self._produced += len(data)
        if self._produced > EXPANSION_FLOOR and self._produced > MAX_EXPANSION * self._consumed:
            raise TooLarge(f"decompresses to more than {MAX_EXPANSION} times its size: refused as a "
                           "decompression bomb")
        return len(data)

    def _next_member(self) -> bool:
        """After a member: start the next one, if any (zero padding between is allowed)."""
        rest = self._inflate.unused_data.lstrip(b"\0")
        while not rest:
            more = self._file.read(_CHUNK)
            if not more:
                return False
            rest = more.lstrip(b"\0")
        self._inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        self._input = rest
        return True

    def close(self) -> None:
        self._file.close()
        super().close()


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading, un-gzipping `*.gz` as it is read."""
    if path.suffix.lower() == ".gz":
        return io.BufferedReader(_Decompressed(path), 64 * 1024)
    return path.open("rb")


def read_document(path: Path, advice: str = "") -> bytes:
    """A whole file, at most MAX_DOCUMENT_BYTES (decompressed): TooLarge, before reading it
    when its size says so."""
    too_large = f"file is larger than {size(MAX_DOCUMENT_BYTES)}, the most a file read whole may hold{advice}"
    if path.suffix.lower() != ".gz" and path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise TooLarge(too_large)
    with open_binary(path) as fh:
        data = fh.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise TooLarge(too_large.replace("is larger", "decompresses to more"))
    return data


def read_text(path: Path, advice: str = "") -> str:
    """A whole file as text; invalid UTF-8 raises UnicodeDecodeError with its byte offset."""
    return read_document(path, advice).decode("utf-8-sig")


def read_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) per line, a byte-order mark removed; None for a line longer than
    MAX_RECORD_BYTES, which is passed over without ever being held."""
    with open_binary(path) as fh:
        number = 0
        while line := fh.readline(MAX_RECORD_BYTES + 1):
            number += 1
            if len(line) > MAX_RECORD_BYTES:
                while line and not line.endswith(b"\n"):
                    line = fh.readline(MiB)
                yield number, None
                continue
            yield number, line.removeprefix(codecs.BOM_UTF8) if number == 1 else line


def json_containers_problem(text: bytes | str) -> str | None:
    """Why a JSON text would take too much memory to parse, counting (an upper bound) its
    objects and arrays."""
    brackets = (b"{", b"[") if isinstance(text, bytes) else ("{", "[")
    if sum(text.count(b) for b in brackets) > MAX_JSON_CONTAINERS:
        return f"holds more than {MAX_JSON_CONTAINERS:,} JSON objects and arrays"
    return None
