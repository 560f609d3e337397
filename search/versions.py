"""Index versions on disk: `<index_dir>/versions/<name>/` plus an atomic `current` pointer.

    var/index/
      current -> versions/20261125T101500-3f2a      (symlink, replaced atomically)
      versions/20261125T101500-3f2a/
        manifest.json   engine/   store.sqlite (articles, lexicon, related lists and model)
      versions/.build-<name>/                       (in progress; removed if abandoned)

A version is complete once its directory has been renamed out of `.build-*`; the pointer
only ever names complete versions, so a killed build leaves the previous one serving.
"""

from __future__ import annotations

import json
import os
import platform
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from search import analysis

FORMAT_VERSION = 2  # 2: the related model stores topic weights (related_topics, related_vectors.topics)
MANIFEST_FILE = "manifest.json"
CURRENT_LINK = "current"
VERSIONS_DIR = "versions"
BUILD_PREFIX = ".build-"


class IndexNotFound(RuntimeError):
    """No complete index version exists yet."""


class IncompatibleIndex(RuntimeError):
    """A version was built by an incompatible format or analyzer."""


class BrokenIndex(RuntimeError):
    """A part of the current version cannot be read (truncated, corrupt, unknown engine)."""


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def versions(self) -> Path:
        return self.root / VERSIONS_DIR

    @property
    def current_link(self) -> Path:
        return self.root / CURRENT_LINK

    @property
    def write_lock(self) -> Path:
        return self.root / "write.lock"

    @property
    def build_lock(self) -> Path:
        return self.root / "build.lock"

    @property
    def snapshots(self) -> Path:
        """On a primary: the index states published to replicas (search/replication.py)."""
        return self.root / "replication"

    @property
    def replica_status(self) -> Path:
        """On a replica: what its follower last saw of the primary, for every worker to report."""
        return self.root / "replica.json"

    @property
    def replication_lock(self) -> Path:
        """Held by the one process that publishes (primary) or follows (replica) this index."""
        return self.root / "replication.lock"

    @property
    def journal(self) -> Path:
        """Articles upserted or deleted through the API, replayed by every full build."""
        return self.root / "journal.sqlite"

    def current_name(self) -> str | None:
        try:
            return os.path.basename(os.readlink(self.current_link))  # every request reads it
        except OSError:
            return None

    def current_dir(self) -> Path:
        return self.version_dir(self.current_name())

    def version_dir(self, name: str | None) -> Path:
        """The directory of the version `current` named (IndexNotFound when it named none)."""
        if name is None:
            raise IndexNotFound(f"no index at {self.root}: run `kindred index PATH...` first")
        return self.versions / name

    def switch_current(self, version_dir: Path) -> None:
        """Point `current` at a complete version in one atomic rename."""
        tmp = self.root / f".current-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(Path(VERSIONS_DIR) / version_dir.name, tmp)
        os.replace(tmp, self.current_link)

    def complete_versions(self) -> list[Path]:
        if not self.versions.is_dir():
            return []
        return sorted(p for p in self.versions.iterdir() if p.is_dir() and not p.name.startswith("."))


@contextmanager
def naming_broken_part(part: Path) -> Iterator[None]:
    """Any failure to read a part of a complete version means that part is damaged: say
    which, in a BrokenIndex."""
    try:
        yield
    except Exception as exc:
        raise BrokenIndex(f"index version {part.parent.name} is broken: {part.name} cannot be read "
                          f"({type(exc).__name__}: {exc}); switch `current` to a good version or rebuild "
                          "with `kindred index`") from exc


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for dist in ("kindred", "whoosh3", "tantivy", "PyStemmer", "scikit-learn"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found


def write_manifest(version_dir: Path, manifest: dict[str, Any]) -> None:
    manifest = {"format": FORMAT_VERSION, "analyzer": analysis.settings(), **manifest}
    tmp = version_dir / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, version_dir / MANIFEST_FILE)


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """Read and check a manifest; an incompatible version is refused, never half-loaded."""
    path = version_dir / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IncompatibleIndex(f"{version_dir} has no {MANIFEST_FILE}; it is not a complete index version") from exc
    except (OSError, ValueError) as exc:
        raise IncompatibleIndex(f"{path} is unreadable: {exc}") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise IncompatibleIndex(
            f"{version_dir.name} has index format {manifest.get('format')!r}, this Kindred reads "
            f"{FORMAT_VERSION}: rebuild with `kindred index`"
        )
    if manifest.get("analyzer") != analysis.settings():
        raise IncompatibleIndex(
            f"{version_dir.name} was built with a different analyzer ({manifest.get('analyzer')}): "
            "rebuild with `kindred index`"
        )
    return manifest
