"""`kindred export --static DIR`: the widget's files for any static host, made by the app itself.

Every file is the body the live server answers for the same request (Flask's test client
against `create_app(settings)`), so the export follows the server byte for byte. Layout
(docs/embedding.md, "Without a running Kindred"):

    DIR/current.json                     {"version": NAME, "limit": related_limit}: cache briefly
    DIR/widget.js                        GET /widget.js
    DIR/latest -> NAME                   the newest version at a stable path, for iframes
    DIR/NAME/manifest.json               version, index state, created, counts, every file
    DIR/NAME/related/<file>.json         GET /api/v1/related/<id>?limit=related_k
    DIR/NAME/by-path/<file>.json         GET /api/v1/related?url=<the article's url>&limit=related_k
    DIR/NAME/widget/related/<file>.html  GET /widget/related/<id>, served at <public path>latest/
    DIR/NAME/static/...                  GET /static/... (the iframe pages' CSS and script)

NAME is the index state plus a digest of the files, so a NAME never changes content: its
folder can be cached for a year, and a new export shows as soon as `current.json` expires.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, unquote

from flask import Flask
from flask.testing import FlaskClient

from indexer.locks import file_lock
from search.config import Settings
from search.replication import now_iso
from search.store import STORE_FILE, Store, url_path
from search.versions import Layout
from web.app import create_app

FORMAT = "kindred-static/1"
POINTER = "current.json"
LATEST = "latest"
MANIFEST = "manifest.json"
STAGING_PREFIX = ".export-"
LOCK = ".export.lock"
ATTEMPTS = 3  # exports restarted because a build or upsert changed the index meanwhile
# File names: bytes outside [a-z0-9_-] become ~XX, cut into folders of SEGMENT_CHARS (a file
# name has at most 255 bytes). widget.js computes the same names (fileName there).
NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_")
SEGMENT_CHARS = 200
MAX_NAME_CHARS = 2400  # an id's longest name (200 characters of 4 bytes); longer URL paths are skipped


class ExportError(Exception):
    """The export cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class ExportReport:
    version: str
    directory: Path
    articles: int
    files: int
    bytes: int
    unchanged: bool  # the same files were already exported under this name
    skipped_paths: int  # articles whose URL path is too long for a file name
    pruned: tuple[str, ...]


def file_name(text: str) -> str:
    """A name that is safe on every file system and in a URL, distinct for distinct texts
    even where case is ignored: `Tips/2024?` -> `~54ips~2F2024~3F`."""
    encoded = "".join(chr(b) if b in NAME_BYTES else f"~{b:02X}" for b in text.encode("utf-8"))
    return "/".join(encoded[i:i + SEGMENT_CHARS] for i in range(0, len(encoded), SEGMENT_CHARS))


def page_path_name(url: str) -> str:
    """The file name for an article's URL: its path, without trailing slashes, decoded, as
    widget.js computes it from a page's URL."""
    return file_name(unquote(url_path(url)))


def public_path_prefix(public_path: str) -> str:
    """`/kindred` or `https://cdn.example/kindred/` -> `/kindred/`: where DIR is served."""
    path = public_path.strip()
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if not path.startswith("/") or any(c in path for c in "?#\\ \"'<>") or "/../" in path + "/":
        raise ExportError(f"--public-path must be the path where DIR is served, like /kindred/ (not {public_path!r})")
    return path.rstrip("/") + "/"


def export_static(settings: Settings, target: Path, public_path: str = "/") -> ExportReport:
    """Write the current index state's widget files into `target`, replacing the previous export
    atomically (that one keeps serving until the switch, and stays for one more export)."""
    if not settings.site_url:
        raise ExportError("kindred export needs site_url (links in static files cannot follow a request's host): "
                          "set it in kindred.toml, KINDRED_SITE_URL or --site-url")
    prefix = public_path_prefix(public_path)
    target = Path(target)
    _check_target(target)
    target.mkdir(parents=True, exist_ok=True)
    with file_lock(target / LOCK, 0, f"an export into {target}"):
        _remove_abandoned(target)
        app = create_app(settings)
        try:
            for _ in range(ATTEMPTS):
                report = _export_once(app, settings, target, prefix)
                if report is not None:
                    return report
        finally:
            app.extensions["kindred.search"].close()
    raise ExportError(f"the index changed during each of {ATTEMPTS} attempts (builds or upserts running); "
                      "run kindred export again when they are done")


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} is not a directory")
    if target.is_dir() and not (target / POINTER).exists() and any(
            not p.name.startswith(".") for p in target.iterdir()):
        raise ExportError(f"{target} holds other files and no Kindred export: choose an empty or new directory")


def _remove_abandoned(target: Path) -> None:
    """Staging folders of exports that were killed (we hold the lock: none is running)."""
    for path in target.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(path, ignore_errors=True)


def _export_once(app: Flask, settings: Settings, target: Path, prefix: str) -> ExportReport | None:
    client = app.test_client()
    state = _index_state(client)
    # Not mkdtemp: its mode 0700 would hide the files from the web server's user.
    staging = target / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        files = _VersionFiles(staging)
        try:
            articles, skipped = _write_articles(client, settings, files, state, prefix)
            for name in sorted(os.listdir(app.static_folder)):
                files.write(f"static/{name}", _get(client, f"/static/{quote(name)}"))
        except _RequestFailed:
            if _index_state(client) != state:  # an article deleted meanwhile: start again
                return None
            raise
        if _index_state(client) != state:
            return None
        name = f"{state['version']}.{state['generation']}-{files.digest()}"
        header = {"format": FORMAT, "version": name, "index_version": state["version"],
                  "generation": state["generation"], "index_built": state.get("built"), "created": now_iso(),
                  "site_url": settings.site_url, "public_path": prefix, "limit": settings.related_limit,
                  "max_limit": settings.related_k, "articles": articles, "skipped_paths": skipped,
                  "file_count": files.count, "bytes": files.bytes}
        files.write_manifest(header)
        final = target / name
        unchanged = final.is_dir()
        if unchanged:  # the same files, already there (and perhaps cached by clients): keep those
            shutil.rmtree(staging)
        else:
            os.sync()  # the files are on disk before anything points at them
            os.rename(staging, final)
        previous = _pointed_version(target)
        _replace_file(target / "widget.js", _get(client, "/widget.js"))
        _replace_symlink(target / LATEST, name)
        _replace_file(target / POINTER, json.dumps({"version": name, "limit": settings.related_limit}).encode())
        pruned = _prune(target, keep={name, previous})
        return ExportReport(name, final, articles, files.count, files.bytes, unchanged, skipped, pruned)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _index_state(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/healthz")
    body = response.get_json(silent=True) or {}
    if response.status_code != 200:
        message = (body.get("error") or {}).get("message") or response.status
        raise ExportError(f"the index cannot be served: {message}")
    return {key: body.get(key) for key in ("version", "generation", "built")}


def _write_articles(client: FlaskClient, settings: Settings, files: "_VersionFiles", state: dict,
                    prefix: str) -> tuple[int, int]:
    """Each article's list (by id and by URL path) and iframe page; (articles, paths skipped)."""
    count = skipped = 0
    limit = settings.related_k
    # The iframe pages are served under <prefix>latest/: their links to /static/... start there.
    frame_base = f"http://export.invalid{prefix}{LATEST}"
    for article_id, url in _articles(settings, state["version"]):
        name = file_name(article_id)
        quoted = quote(article_id, safe="")
        files.write(f"related/{name}.json", _get(client, f"/api/v1/related/{quoted}?limit={limit}"))
        files.write(f"widget/related/{name}.html", _get(client, f"/widget/related/{quoted}", base_url=frame_base))
        count += 1
        if not url:
            continue
        path_name = page_path_name(url)
        if len(path_name) > MAX_NAME_CHARS:
            skipped += 1
        elif not files.exists(f"by-path/{path_name}.json"):  # several articles may share a path
            files.write(f"by-path/{path_name}.json",
                        _get(client, f"/api/v1/related?url={quote(url, safe='')}&limit={limit}"))
    return count, skipped


def _articles(settings: Settings, version: str) -> Iterator[tuple[str, str]]:
    """(id, url) of every article of `version`, streamed in id order."""
    store = Store(Layout(settings.resolve(settings.index_dir)).version_dir(version) / STORE_FILE)
    try:
        for article in store.iter_articles():
            yield article.id, article.url
    finally:
        store.close()


def _get(client: FlaskClient, path: str, **options: Any) -> bytes:
    with client.get(path, **options) as response:  # closes the files the static route opens
        if response.status_code != 200:
            raise _RequestFailed(path, response.status_code)
        return response.get_data()


class _RequestFailed(ExportError):
    """A request the export made failed (usually because the index changed under it)."""

    def __init__(self, path: str, status: int):
        super().__init__(f"GET {path} answered {status}")


class _VersionFiles:
    """The files of one version under its staging folder, digested as they are written, with
    their list kept on disk (the manifest's), never in memory."""

    LIST = ".files"

    def __init__(self, root: Path):
        self.root = root
        self.count = 0
        self.bytes = 0
        self._digest = hashlib.sha256()
        self._list = open(root / self.LIST, "w", encoding="utf-8")

    def write(self, relative: str, body: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        sha = hashlib.sha256(body).hexdigest()
        self._digest.update(f"{relative}\0{sha}\n".encode())
        self._list.write(json.dumps({"path": relative, "bytes": len(body), "sha256": sha}, ensure_ascii=False) + "\n")
        self.count += 1
        self.bytes += len(body)

    def exists(self, relative: str) -> bool:
        return (self.root / relative).exists()

    def digest(self) -> str:
        return self._digest.hexdigest()[:12]

    def write_manifest(self, header: dict[str, Any]) -> None:
        self._list.close()
        listing = self.root / self.LIST
        with open(self.root / MANIFEST, "w", encoding="utf-8") as out, open(listing, encoding="utf-8") as lines:
            out.write(json.dumps(header, indent=1, ensure_ascii=False)[:-2] + ',\n "files": [')
            for number, line in enumerate(lines):
                out.write(("\n  " if number == 0 else ",\n  ") + line.rstrip("\n"))
            out.write("\n ]\n}\n")
        listing.unlink()


def _pointed_version(target: Path) -> str | None:
    try:
        return json.loads((target / POINTER).read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def _replace_file(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _replace_symlink(path: Path, name: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(name, tmp)
    os.replace(tmp, path)


def _prune(target: Path, keep: set[str | None]) -> tuple[str, ...]:
    """Remove exported versions other than `keep` (only folders whose manifest says they are one)."""
    pruned = []
    for path in sorted(target.iterdir()):
        if path.name in keep or path.name.startswith(".") or path.is_symlink() or not path.is_dir():
            continue
        try:
            with open(path / MANIFEST, encoding="utf-8") as manifest:
                is_export = f'"format": "{FORMAT}"' in manifest.read(200)
        except OSError:
            continue
        if is_export:
            shutil.rmtree(path)
            pruned.append(path.name)
    return tuple(pruned)
