"""`kindred export --static DIR` on real indexes, and docs/nginx/kindred-static.conf serving it
with a real nginx. (tests/browser/test_static_widget.py renders the widget from it.)"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result

from indexer.build import Indexer
from indexer.locks import file_lock
from kindred.cli import main
from search.article import Article
from search.config import Settings, load_settings
from search.store import STORE_FILE, Store
from search.versions import Layout
from tests.conftest import REPO, write_jsonl
from tests.nginx import Nginx, nginx_binary
from tests.test_deploy import get
from web.app import create_app

SITE_URL = "https://health.example.org/"
CONFIG = REPO / "docs" / "nginx" / "kindred-static.conf"
DOCUMENTED_LISTEN = "listen 80;"
DOCUMENTED_ROOT = "root /srv/kindred/var/static;"
NAMES_RE = re.compile(r"^[a-z0-9_~A-F/-]+$")


def write_config(path: Path, index_dir: Path, **values: object) -> Path:
    """A kindred.toml for an index, its own analytics and admin databases beside it."""
    values = {"index_dir": str(index_dir), "analytics_db": str(path.parent / "analytics.sqlite"),
              "admin_db": str(path.parent / "admin.sqlite"), "synonyms": str(REPO / "data" / "synonyms.txt"),
              "rules": str(REPO / "data" / "rules.toml"), "article_links": "local", **values}
    path.write_text("".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items()), encoding="utf-8")
    return path


def export(config: Path, target: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), "export", "--static", str(target), *options],
                              catch_exceptions=False)


def settings_of(config: Path) -> Settings:
    return load_settings(config, environ={}, look_in_cwd=False)


def article_ids(settings: Settings) -> list[str]:
    store = Store(Layout(settings.resolve(settings.index_dir)).current_dir() / STORE_FILE)
    try:
        return store.article_ids()
    finally:
        store.close()


def served(client, path: str) -> bytes:
    """The body the live app answers (closing the static route's file)."""
    with client.get(path) as response:
        assert response.status_code == 200, path
        return response.get_data()


def pointer(target: Path) -> dict:
    return json.loads((target / "current.json").read_text(encoding="utf-8"))


def version_dir(target: Path) -> Path:
    return target / pointer(target)["version"]


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory, sample_index) -> tuple[Settings, Path]:
    """The session's sample index exported once with site_url set."""
    root = tmp_path_factory.mktemp("export")
    config = write_config(root / "kindred.toml", sample_index / "index", site_url=SITE_URL)
    result = export(config, root / "static")
    assert result.exit_code == 0, result.output
    return settings_of(config), root / "static"


@pytest.fixture(scope="module")
def live(sample_export):
    """The app the export was made from, answering in this process as the live server would."""
    settings, _ = sample_export
    app = create_app(settings)
    yield app.test_client()
    app.extensions["kindred.search"].close()


# -- what is written -----------------------------------------------------------------------

def test_every_articles_list_is_what_the_live_api_answers(sample_export, live):
    settings, target = sample_export
    folder = version_dir(target)
    ids = article_ids(settings)
    assert len(ids) == 49
    longest = 0
    for article_id in ids:
        body = (folder / "related" / f"{article_id}.json").read_bytes()  # sample ids are already safe names
        # All related_k items, so widgets can show more than the default limit.
        expected = served(live, f"/api/v1/related/{quote(article_id, safe='')}?limit={settings.related_k}")
        assert body == expected, article_id
        data = json.loads(body)
        assert data["id"] == article_id
        assert all(item["url"].startswith(SITE_URL) for item in data["related"])
        longest = max(longest, len(data["related"]))
    assert settings.related_limit < longest <= settings.related_k


def test_iframe_pages_show_the_list_and_load_their_assets_from_the_export(sample_export, live):
    settings, target = sample_export
    folder = version_dir(target)
    page = (folder / "widget" / "related" / "does-weed-have-calories.html").read_text(encoding="utf-8")
    listed = json.loads((folder / "related" / "does-weed-have-calories.json").read_bytes())["related"]
    titles = [html.unescape(t) for t in re.findall(r"<strong>(.*?)</strong>", page)]
    assert titles == [i["title"] for i in listed[: settings.related_limit]]
    # The page is served at /latest/widget/related/...: its CSS and script are in the export.
    assets = re.findall(r'(?:href|src)="(/[^"]+)"', page)
    assert sorted(assets) == ["/latest/static/widget-frame.css", "/latest/static/widget-frame.js"]
    for asset in assets:
        exported = (target / asset.lstrip("/")).read_bytes()
        assert exported == served(live, asset.removeprefix("/latest"))


def test_widget_js_is_the_servers(sample_export, live):
    _, target = sample_export
    assert (target / "widget.js").read_bytes() == served(live, "/widget.js")


def test_pages_found_by_url_have_their_list_under_their_path(sample_export, live):
    settings, target = sample_export
    folder = version_dir(target)
    # From the WordPress export: https://kindred-health.example.org/stimulant-overdose-signs/
    url = "https://kindred-health.example.org/stimulant-overdose-signs/"
    body = (folder / "by-path" / "~2Fstimulant-overdose-signs.json").read_bytes()
    assert body == served(live, f"/api/v1/related?url={quote(url, safe='')}&limit={settings.related_k}")


def test_manifest_pointer_and_latest_describe_the_version(sample_export):
    settings, target = sample_export
    current = pointer(target)
    folder = target / current["version"]
    assert current == {"version": folder.name, "limit": settings.related_limit}
    assert os.readlink(target / "latest") == folder.name
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    index_version = Layout(settings.resolve(settings.index_dir)).current_name()
    assert manifest["format"] == "kindred-static/1"
    assert manifest["version"] == folder.name and folder.name.startswith(f"{index_version}.0-")
    assert (manifest["index_version"], manifest["generation"]) == (index_version, 0)
    assert manifest["articles"] == 49 and manifest["site_url"] == SITE_URL
    assert (manifest["limit"], manifest["max_limit"]) == (settings.related_limit, settings.related_k)
    on_disk = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    on_disk.pop("manifest.json")
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(on_disk)
    for path, body in on_disk.items():
        assert listed[path]["bytes"] == len(body) and listed[path]["sha256"] == hashlib.sha256(body).hexdigest()
    assert manifest["file_count"] == len(on_disk) and manifest["bytes"] == sum(map(len, on_disk.values()))
    # Readable by a web server running as another user, as any folder this user makes.
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in [folder, *folder.rglob("*")] if p.is_dir()} == {0o777 & ~umask}


HOSTILE = [
    # id, url, the file names a reader of docs/embedding.md would expect
    ("guides/naloxone", "https://pub.example/guides/naloxone/", "guides~2Fnaloxone", "~2Fguides~2Fnaloxone"),
    ("what-is-fentanyl?", "https://pub.example/what%20is/fentanyl", "what-is-fentanyl~3F", "~2Fwhat~20is~2Ffentanyl"),
    ("c#-opioids", "https://pub.example/caf%C3%A9/", "c~23-opioids", "~2Fcaf~C3~A9"),
    ("100%-pure", "https://pub.example/purity?page=2#top", "100~25-pure", "~2Fpurity"),
    ("../admin/analytics", "", "~2E~2E~2Fadmin~2Fanalytics", None),
    ("Café-Guide", "https://pub.example/Café", "~43af~C3~A9-~47uide", "~2F~43af~C3~A9"),
    ("café-guide", "https://pub.example/café-guide", "caf~C3~A9-guide", "~2Fcaf~C3~A9-guide"),
]


def test_ids_and_paths_become_safe_distinct_file_names(tmp_path):
    records = [{"id": i, "title": f"Naloxone and overdose {n}", "url": url,
                "body": f"Naloxone reverses an opioid overdose. Fentanyl guide number {n}."}
               for n, (i, url, _, _) in enumerate(HOSTILE)]
    config = write_config(tmp_path / "kindred.toml", tmp_path / "index", site_url=SITE_URL)
    Indexer(settings_of(config)).build([write_jsonl(tmp_path / "hostile.jsonl", records)])
    result = export(config, tmp_path / "static")
    assert result.exit_code == 0, result.output
    folder = version_dir(tmp_path / "static")
    for article_id, url, name, path_name in HOSTILE:
        assert json.loads((folder / "related" / f"{name}.json").read_bytes())["id"] == article_id
        assert (folder / "widget" / "related" / f"{name}.html").is_file()
        if path_name:
            assert json.loads((folder / "by-path" / f"{path_name}.json").read_bytes())["id"] == article_id
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    # Nothing outside its folder, nothing that differs only by case, nothing a URL must escape.
    assert all(NAMES_RE.match(n.rsplit(".", 1)[0]) for n in names if n != "manifest.json"), names
    assert len({n.lower() for n in names}) == len(names)
    assert {p.name for p in (tmp_path / "static").iterdir()} == {
        folder.name, "latest", "current.json", "widget.js", ".export.lock"}


def test_long_ids_are_cut_into_folders(tmp_path):
    long_id = "x" * 150 + "/" * 50  # 300 characters once encoded: a folder of 200, then the rest
    config = write_config(tmp_path / "kindred.toml", tmp_path / "index", site_url=SITE_URL)
    Indexer(settings_of(config)).build([write_jsonl(tmp_path / "a.jsonl", [
        {"id": long_id, "title": "Long", "body": "Opioid overdose and naloxone."},
        {"id": "short", "title": "Short", "body": "Opioid overdose and naloxone again."}])])
    assert export(config, tmp_path / "static").exit_code == 0
    encoded = "x" * 150 + "~2F" * 50
    stored = version_dir(tmp_path / "static") / "related" / encoded[:200] / f"{encoded[200:]}.json"
    assert json.loads(stored.read_bytes())["id"] == long_id


# -- replacing an export -------------------------------------------------------------------

def upsert(settings: Settings, title: str) -> None:
    Indexer(settings).upsert([Article.from_mapping({"id": "new-naloxone-guide", "title": title,
                                                    "body": "Naloxone reverses opioid overdoses. Carry it."})])


def test_a_new_index_state_replaces_the_export_and_prunes_the_one_before(tmp_path, writable_sample):
    config = write_config(tmp_path / "kindred.toml", writable_sample.index_dir, site_url=SITE_URL)
    settings = settings_of(config)
    target = tmp_path / "static"
    assert export(config, target).exit_code == 0
    first = pointer(target)["version"]

    again = export(config, target)  # nothing changed: the same name, the same files
    assert again.exit_code == 0 and "unchanged" in again.output
    assert pointer(target)["version"] == first

    upsert(settings, "Naloxone, a new guide")
    assert export(config, target).exit_code == 0
    second = pointer(target)["version"]
    assert second != first and ".1-" in second  # the upsert's write generation
    assert os.readlink(target / "latest") == second
    assert json.loads((target / second / "related" / "new-naloxone-guide.json").read_bytes())["id"] == \
        "new-naloxone-guide"
    assert (target / first / "manifest.json").is_file()  # kept: cached pointers may still name it

    upsert(settings, "Naloxone, the guide again")
    result = export(config, target)
    assert result.exit_code == 0 and f"removed {first}" in result.output
    third = pointer(target)["version"]
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".")) == sorted(
        [second, third, "latest", "current.json", "widget.js"])


def test_an_export_killed_midway_leaves_the_previous_one_serving(tmp_path, writable_sample):
    config = write_config(tmp_path / "kindred.toml", writable_sample.index_dir, site_url=SITE_URL)
    target = tmp_path / "static"
    assert export(config, target).exit_code == 0
    before = {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    upsert(settings_of(config), "Naloxone, changed")

    process = subprocess.Popen([sys.executable, "-m", "kindred", "--config", str(config), "export", "--static",
                                str(target)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # kill it once it is writing files into its staging folder
        while process.poll() is None and not any(target.glob(".export-*/related/*.json")):
            time.sleep(0.005)
        assert process.poll() is None, "the export finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert any(target.glob(".export-*"))
    after = {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*")
             if p.is_file() and not p.relative_to(target).as_posix().startswith(".")}
    assert after == {k: v for k, v in before.items() if not k.startswith(".")}

    assert export(config, target).exit_code == 0  # the next export cleans up
    assert not any(target.glob(".export-*"))
    assert pointer(target)["version"] != json.loads(before["current.json"])["version"]


# -- refusals ------------------------------------------------------------------------------

def refused(result: Result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert all(word in result.stderr for word in words), result.stderr
    assert "Traceback" not in result.output


def test_export_without_site_url_is_refused(tmp_path, sample_index):
    config = write_config(tmp_path / "kindred.toml", sample_index / "index")
    refused(export(config, tmp_path / "static"), "site_url", "--site-url")
    assert not (tmp_path / "static").exists()


def test_export_into_a_directory_of_other_files_is_refused(tmp_path, sample_index):
    config = write_config(tmp_path / "kindred.toml", sample_index / "index", site_url=SITE_URL)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("my site")
    refused(export(config, tmp_path / "www"), "holds other files")
    assert [p.name for p in (tmp_path / "www").iterdir()] == ["index.html"]


def test_a_second_export_into_the_same_directory_at_once_is_refused(tmp_path, sample_index):
    config = write_config(tmp_path / "kindred.toml", sample_index / "index", site_url=SITE_URL)
    target = tmp_path / "static"
    target.mkdir()
    with file_lock(target / ".export.lock", 0, "a test"):
        refused(export(config, target), "already in progress")
    assert export(config, target).exit_code == 0


def test_export_without_an_index_is_refused(tmp_path):
    config = write_config(tmp_path / "kindred.toml", tmp_path / "no-index", site_url=SITE_URL)
    refused(export(config, tmp_path / "static"), "kindred index")
    assert not (tmp_path / "static" / "current.json").exists()


# -- nginx serving the export --------------------------------------------------------------

def site_config(root: Path, listen_port: int) -> str:
    """docs/nginx/kindred-static.conf with only its listen port and root changed."""
    text = CONFIG.read_text(encoding="utf-8")
    assert text.count(DOCUMENTED_LISTEN) == 1 and text.count(DOCUMENTED_ROOT) == 1, "the documented lines moved"
    return text.replace(DOCUMENTED_LISTEN, f"listen {listen_port};").replace(DOCUMENTED_ROOT, f"root {root};")


@pytest.fixture(scope="module")
def static_nginx(tmp_path_factory, sample_export):
    _, target = sample_export
    nginx = Nginx(nginx_binary(), tmp_path_factory.mktemp("static-nginx"), lambda port: site_config(target, port))
    nginx.start()
    yield nginx
    nginx.stop()


@pytest.mark.slow
def test_nginx_serves_the_export_with_the_documented_headers(static_nginx, sample_export):
    _, target = sample_export
    version = pointer(target)["version"]
    expectations = [
        ("/current.json", "application/json", "public, max-age=60"),
        ("/widget.js", "javascript", "public, max-age=3600"),
        (f"/{version}/related/does-weed-have-calories.json", "application/json", "public, max-age=31536000, immutable"),
        (f"/{version}/by-path/~2Fstimulant-overdose-signs.json", "application/json",
         "public, max-age=31536000, immutable"),
        (f"/{version}/manifest.json", "application/json", "public, max-age=31536000, immutable"),
        ("/latest/widget/related/does-weed-have-calories.html", "text/html", "public, max-age=300"),
        ("/latest/static/widget-frame.css", "text/css", "public, max-age=300"),
        ("/latest/static/widget-frame.js", "javascript", "public, max-age=300"),
        ("/latest/related/does-weed-have-calories.json", "application/json", "public, max-age=300"),
    ]
    for path, content_type, cache_control in expectations:
        status, headers, body = get(static_nginx.url + path)
        assert status == 200, path
        assert content_type in headers["content-type"], (path, headers)
        assert headers["cache-control"] == cache_control, (path, headers)
        assert headers["access-control-allow-origin"] == "*", path
        assert headers["x-content-type-options"] == "nosniff"
        assert body == (target / path.lstrip("/")).read_bytes(), path
    _, headers, _ = get(static_nginx.url + "/current.json")
    assert "charset=utf-8" in headers["content-type"]
    # The iframe page may be framed (Kindred's own policy), its assets come from this host.
    _, headers, _ = get(static_nginx.url + "/latest/widget/related/does-weed-have-calories.html")
    assert headers["content-security-policy"].endswith("frame-ancestors *")
    assert "style-src 'self'" in headers["content-security-policy"]


@pytest.mark.slow
def test_nginx_revalidates_and_hides_what_is_not_the_export(static_nginx, sample_export):
    _, headers, _ = get(static_nginx.url + "/current.json")
    status, _, body = get(static_nginx.url + "/current.json", {"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
    status, headers, _ = get(static_nginx.url + "/.export.lock")
    assert status == 404 and "cache-control" not in headers
    status, headers, _ = get(static_nginx.url + "/latest/related/no-such-article.json")
    assert status == 404 and "cache-control" not in headers  # a missing list is not cached for a year


@pytest.mark.slow
def test_nginx_compresses_the_lists(static_nginx, sample_export):
    _, target = sample_export
    path = f"/{pointer(target)['version']}/related/does-weed-have-calories.json"
    status, headers, body = get(static_nginx.url + path, {"Accept-Encoding": "gzip"})
    assert (status, headers.get("content-encoding")) == (200, "gzip")
    assert gzip.decompress(body) == (target / path.lstrip("/")).read_bytes()
