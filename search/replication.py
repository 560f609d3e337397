"""Replication's shared format: the snapshots a primary publishes and its replicas pull.

A snapshot is the index state the primary serves (the version `current` names, at one write
generation), copied under the primary's write lock (indexer/publisher.py) into
`replication/<id>/data/`, with a listing of its files (path, size, sha256) in
`replication/<id>/snapshot.json`; `replication/latest.json` is the newest listing. Its id is
`<version>.<generation>`, so a rebuild (a new version) and an upsert or delete (a new
generation of the same version) both make a new snapshot, and the id is also the name of the
version directory a replica unpacks it into.

The archive is a plain tar of the listed files, streamed from the snapshot directory; the
replica (indexer/follower.py) checks every file against the listing while it unpacks, and
reads no more bytes than the listing accounts for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterator

SNAPSHOT_FILE = "snapshot.json"
LATEST_FILE = "latest.json"
DATA_DIR = "data"
CHUNK_BYTES = 1 << 20
BLOCK = tarfile.BLOCKSIZE
# A tar header (PAX, for names up to MAX_PATH_CHARS) takes at most this many bytes.
HEADER_ALLOWANCE = 4 * BLOCK
MAX_PATH_CHARS = 500
MAX_FILES = 100_000
# Version names and snapshot ids become directory names and URL path segments.
_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,159}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class InvalidSnapshot(ValueError):
    """A listing or an archive that does not describe a complete, intact index state."""


@dataclasses.dataclass(frozen=True)
class SnapshotFile:
    path: str  # relative, POSIX
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Snapshot:
    version: str
    generation: int
    created: str  # when the version was built (its manifest)
    published: str  # when this snapshot was made
    files: tuple[SnapshotFile, ...]

    @property
    def id(self) -> str:
        return f"{self.version}.{self.generation}"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def checksum(self) -> str:
        """One digest over every file's path, size and digest: equal listings, equal content."""
        digest = hashlib.sha256()
        for f in self.files:
            digest.update(f"{f.path}\0{f.size}\0{f.sha256}\n".encode())
        return "sha256:" + digest.hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "generation": self.generation, "created": self.created,
                "published": self.published, "checksum": self.checksum, "size": self.size,
                "files": [dataclasses.asdict(f) for f in self.files]}

    @classmethod
    def from_json(cls, data: Any) -> "Snapshot":
        """Check a listing (it names directories and files to write) before anything trusts it."""
        try:
            files = tuple(SnapshotFile(str(f["path"]), f["size"], str(f["sha256"])) for f in data["files"])
            snapshot = cls(str(data["version"]), data["generation"], str(data["created"]), str(data["published"]),
                           files)
        except (TypeError, KeyError) as exc:
            raise InvalidSnapshot(f"the snapshot listing is malformed ({exc!r})") from None
        if not _NAME.fullmatch(snapshot.version) or not isinstance(snapshot.generation, int) or snapshot.generation < 0:
            raise InvalidSnapshot(f"the snapshot listing names an invalid version {snapshot.version!r}")
        if not 0 < len(files) <= MAX_FILES or len({f.path for f in files}) != len(files):
            raise InvalidSnapshot("the snapshot listing must name each file once")
        for f in files:
            if not (_safe_path(f.path) and isinstance(f.size, int) and f.size >= 0 and _SHA256.fullmatch(f.sha256)):
                raise InvalidSnapshot(f"the snapshot listing has an invalid file entry {f.path!r}")
        if data.get("checksum", snapshot.checksum) != snapshot.checksum:
            raise InvalidSnapshot("the snapshot listing does not match its own checksum")
        return snapshot


def _safe_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (0 < len(path) <= MAX_PATH_CHARS and not path.startswith("/") and "\\" not in path
            and "\0" not in path and all(p not in ("", ".", "..") for p in parts) and path == "/".join(parts))


def valid_id(snapshot_id: str) -> bool:
    return bool(_NAME.fullmatch(snapshot_id))


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def describe(data_dir: Path, version: str, generation: int, created: str) -> Snapshot:
    """The listing of a snapshot's files, read and digested once."""
    files = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        files.append(SnapshotFile(path.relative_to(data_dir).as_posix(), path.stat().st_size, digest))
    return Snapshot(version, generation, created, now_iso(), tuple(files))


def write_json_atomically(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_listing(path: Path) -> Snapshot | None:
    try:
        return Snapshot.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidSnapshot(f"{path} is unreadable: {exc}") from exc


# The archive ---------------------------------------------------------------------------------


def _header(entry: SnapshotFile) -> bytes:
    info = tarfile.TarInfo(entry.path)
    info.size, info.mode, info.mtime = entry.size, 0o644, 0
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def archive_size(snapshot: Snapshot) -> int:
    return sum(len(_header(f)) + f.size + len(_padding(f.size)) for f in snapshot.files) + 2 * BLOCK


def archive_chunks(data_dir: Path, snapshot: Snapshot) -> Iterator[bytes]:
    """The snapshot's files as a tar stream, a chunk at a time (the files are never all in memory)."""
    for entry in snapshot.files:
        yield _header(entry)
        remaining = entry.size
        with (data_dir / entry.path).open("rb") as handle:
            while remaining:
                chunk = handle.read(min(CHUNK_BYTES, remaining))
                if not chunk:
                    raise InvalidSnapshot(f"{entry.path} is shorter than its listing says")
                remaining -= len(chunk)
                yield chunk
        yield _padding(entry.size)
    yield b"\0" * (2 * BLOCK)


class _Bounded:
    """A stream that refuses to yield more than `limit` bytes."""

    def __init__(self, stream: BinaryIO, limit: int):
        self._stream = stream
        self._left = limit

    def read(self, size: int = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        data = self._stream.read(want)
        self._left -= len(data)
        if self._left < 0:
            raise InvalidSnapshot("the archive is larger than its listing accounts for")
        return data


def unpack_archive(stream: BinaryIO, snapshot: Snapshot, target: Path) -> None:
    """Write the archive's files under `target`, each checked against the listing (size and
    sha256); InvalidSnapshot for anything else, a missing file or a truncated stream."""
    expected = {f.path: f for f in snapshot.files}
    limit = sum(f.size + -f.size % BLOCK + HEADER_ALLOWANCE for f in snapshot.files) + 2 * BLOCK
    try:
        with tarfile.open(fileobj=_Bounded(stream, limit), mode="r|") as archive:
            for member in archive:
                entry = expected.pop(member.name, None)
                if entry is None or not member.isfile() or member.size != entry.size:
                    raise InvalidSnapshot(f"the archive holds {member.name!r}, which its listing does not")
                _unpack_file(archive.extractfile(member), entry, target)
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidSnapshot(f"the archive is damaged or cut short ({exc})") from exc
    if expected:
        raise InvalidSnapshot(f"the archive lacks {len(expected)} listed files, e.g. {next(iter(expected))!r}")


def _unpack_file(source: BinaryIO, entry: SnapshotFile, target: Path) -> None:
    path = target / entry.path
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != entry.sha256:
        raise InvalidSnapshot(f"{entry.path} does not match its checksum")
