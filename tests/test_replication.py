"""Read replicas that follow a primary (docs/scaling.md).

The first tests run the pieces in this process over real HTTP: the primary's app behind
werkzeug's server on a free port, its publisher, and a replica's follower. The last ones run
`kindred serve` for real: a primary, two replicas and nginx with docs/nginx/kindred-replicas.conf;
a replica SIGKILLed in the middle of a download; a replica whose primary goes away.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from indexer.build import Indexer
from indexer.follower import PULL_PREFIX, Follower
from indexer.publisher import Publisher
from kindred.cli import main
from search.article import Article
from search.config import ConfigError
from search.replication import DATA_DIR
from search.results import SearchRequest
from search.service import SearchService
from search.store import Store
from search.versions import Layout
from tests.browser.servers import ServerThread, free_port
from tests.cluster import (REPLICATION_TOKEN, KindredServer, ReplicasNginx, ThrottledProxy, primary_settings,
                           replica_settings, wait_for)
from tests.conftest import ADMIN_TOKEN, SAMPLE, make_settings, write_jsonl
from tests.reliability.harness import ADMIN_TOKEN as CLUSTER_ADMIN_TOKEN
from tests.reliability.harness import Http
from web.app import create_app

# "Bandage" is in no article of the sample site.
NEW_ARTICLE = {"id": "xylazine-wound-care", "title": "Xylazine wound care: bandage and debride",
               "body": "Xylazine wounds need a nurse: keep them clean and bandaged.", "category": "Harm Reduction"}
REPLICATION = {"Authorization": f"Bearer {REPLICATION_TOKEN}"}


def layout(settings) -> Layout:
    return Layout(settings.resolve(settings.index_dir))


@pytest.fixture
def primary(tmp_path, sample_index):
    """A copy of the sample index that publishes (it has a replication token)."""
    shutil.copytree(sample_index / "index", tmp_path / "primary" / "index", symlinks=True)
    return make_settings(tmp_path / "primary", replication_token=REPLICATION_TOKEN)


@pytest.fixture
def primary_url(primary):
    """The primary's app served over HTTP on 127.0.0.1."""
    app = create_app(primary)
    with ServerThread(make_server("127.0.0.1", 0, app, threaded=True), "primary") as server:
        yield server.url
    app.extensions["kindred.search"].close()


@pytest.fixture
def replica(tmp_path, primary_url):
    return make_settings(tmp_path / "replica", primary_url=primary_url, replication_token=REPLICATION_TOKEN)


def search_ids(settings, q: str) -> list[str]:
    service = SearchService(settings)
    try:
        return [hit.id for hit in service.search(SearchRequest(q=q, facets=False)).hits]
    finally:
        service.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The primary's side ---------------------------------------------------------------------------


def test_a_snapshot_copies_the_served_version_with_a_checksum_per_file(primary):
    snapshot = Publisher(primary).publish()
    served = layout(primary).current_dir()
    assert (snapshot.version, snapshot.generation) == (served.name, 0)
    data = layout(primary).snapshots / snapshot.id / DATA_DIR
    on_disk = {p.relative_to(data).as_posix(): p for p in data.rglob("*") if p.is_file()}
    assert {"manifest.json", "store.sqlite"} < set(on_disk) and any(p.startswith("engine/") for p in on_disk)
    assert {f.path: (f.size, f.sha256) for f in snapshot.files} == {
        name: (path.stat().st_size, sha256(path)) for name, path in on_disk.items()}
    copy, original = Store(data / "store.sqlite"), Store(served / "store.sqlite")
    try:
        assert copy.article_ids() == original.article_ids()
    finally:
        copy.close()
        original.close()
    # Nothing changed: nothing new to publish.
    assert Publisher(primary).publish() == snapshot
    assert sorted(p.name for p in layout(primary).snapshots.iterdir() if p.is_dir()) == [snapshot.id]


def test_an_upsert_publishes_a_new_generation_of_the_same_version(primary):
    first = Publisher(primary).publish()
    Indexer(primary).upsert([Article.from_mapping(NEW_ARTICLE)])
    second = Publisher(primary).publish()
    assert (second.version, second.generation) == (first.version, first.generation + 1)
    assert second.checksum != first.checksum
    store = Store(layout(primary).snapshots / second.id / DATA_DIR / "store.sqlite")
    try:
        assert store.article(NEW_ARTICLE["id"]) is not None
    finally:
        store.close()


def test_versions_lists_names_dates_and_the_published_snapshot(primary):
    client = create_app(primary).test_client()
    listed = client.get("/api/v1/versions").get_json()
    current = layout(primary).current_name()
    assert listed["current"] == current and listed["snapshot"] is None
    assert [v["name"] for v in listed["versions"] if v["current"]] == [current]
    store = Store(layout(primary).current_dir() / "store.sqlite")
    try:
        assert all(v["created"] and v["doc_count"] == store.count() for v in listed["versions"])
    finally:
        store.close()
    snapshot = Publisher(primary).publish()
    published = client.get("/api/v1/versions").get_json()["snapshot"]
    assert published["id"] == snapshot.id and published["checksum"] == snapshot.checksum
    assert published["archive"] == f"/api/v1/versions/{snapshot.id}/archive"
    assert len(published["files"]) == len(snapshot.files)


def test_the_archive_takes_the_replication_token_and_holds_the_listed_files(primary):
    snapshot = Publisher(primary).publish()
    url = f"/api/v1/versions/{snapshot.id}/archive"
    client = create_app(primary).test_client()
    assert client.get(url).status_code == 401
    admin = client.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.status_code == 401 and admin.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/versions/no-such-snapshot.0/archive", headers=REPLICATION).status_code == 404
    response = client.get(url, headers=REPLICATION)
    assert response.status_code == 200 and response.mimetype == "application/x-tar"
    assert response.content_length == len(response.data)
    with tarfile.open(fileobj=io.BytesIO(response.data)) as archive:
        contents = {m.name: hashlib.sha256(archive.extractfile(m).read()).hexdigest() for m in archive}
    assert contents == {f.path: f.sha256 for f in snapshot.files}

    disabled = create_app(primary.replace(replication_token="")).test_client()
    refused = disabled.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "replication_disabled"


# The replica's side ---------------------------------------------------------------------------


def test_a_replica_follows_rebuilds_and_upserts(primary, replica):
    publisher, follower = Publisher(primary), Follower(replica)
    follower.start()
    publisher.publish()
    assert follower.check() is True
    assert search_ids(replica, "ketamine") == search_ids(primary, "ketamine") != []
    assert follower.check() is False  # nothing new

    Indexer(primary).upsert([Article.from_mapping(NEW_ARTICLE)])
    publisher.publish()
    assert follower.check() is True
    assert search_ids(replica, "bandage") == [NEW_ARTICLE["id"]]

    Indexer(primary).build([SAMPLE])  # the journal keeps the upserted article
    publisher.publish()
    assert follower.check() is True
    health = follower.status.health()
    assert health["version"] == layout(primary).current_name() and health["generation"] == 0
    assert health["primary_reachable"] is True and health["error"] is None
    assert search_ids(replica, "bandage") == [NEW_ARTICLE["id"]]
    # Versions are pruned as after local builds: the one served and keep_versions - 1 more.
    assert len(layout(replica).complete_versions()) == replica.keep_versions


def test_a_damaged_archive_is_refused_and_the_replica_keeps_serving(primary, replica):
    publisher, follower = Publisher(primary), Follower(replica)
    follower.start()
    publisher.publish()
    follower.check()
    served = layout(replica).current_name()
    Indexer(primary).upsert([Article.from_mapping(NEW_ARTICLE)])
    damaged = layout(primary).snapshots / publisher.publish().id / DATA_DIR / "store.sqlite"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the same size, one byte different
    damaged.write_bytes(bytes(data))

    assert follower.check() is False
    assert layout(replica).current_name() == served
    assert list(layout(replica).versions.glob(f"{PULL_PREFIX}*")) == []
    health = follower.status.health()
    assert health["primary_reachable"] is True and "store.sqlite does not match its checksum" in health["error"]
    service = SearchService(replica)
    try:
        assert service.article(NEW_ARTICLE["id"]) is None
    finally:
        service.close()


def test_leftovers_of_an_interrupted_download_are_removed_when_the_follower_starts(primary, replica):
    Publisher(primary).publish()
    follower = Follower(replica)
    follower.start()
    follower.check()
    served = layout(replica).current_name()
    leftover = layout(replica).versions / f"{PULL_PREFIX}{served}-x1y2z3" / "engine"
    leftover.mkdir(parents=True)
    (leftover / "half-a-segment").write_bytes(b"\0" * 1000)
    Follower(replica).start()
    assert [p.name for p in layout(replica).versions.iterdir()] == [served]


def test_a_replica_answers_writes_with_409_and_the_primary_url(sample_settings):
    primary_url = "http://10.0.0.10:8000"
    client = create_app(sample_settings.replace(primary_url=primary_url,
                                                replication_token=REPLICATION_TOKEN)).test_client()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    writes = [client.post("/api/v1/articles", json=NEW_ARTICLE, headers=admin),
              client.put("/api/v1/articles", json=NEW_ARTICLE, headers=admin),
              client.delete("/api/v1/articles/does-weed-have-calories", headers=admin),
              client.post("/api/v1/reindex", headers=admin),
              client.post("/api/articles", json=NEW_ARTICLE),  # the first release's paths, no token
              client.delete("/api/articles/does-weed-have-calories")]
    for response in writes:
        assert response.status_code == 409
        error = response.get_json()["error"]
        assert error["code"] == "read_only_replica" and error["primary"] == primary_url
        assert primary_url in error["message"]
    assert client.get("/api/v1/articles/does-weed-have-calories").status_code == 200
    assert client.get("/api/v1/search?q=ketamine").get_json()["total"] > 0


def test_a_replica_whose_primary_is_unreachable_says_so_and_keeps_serving(tmp_path, sample_index):
    shutil.copytree(sample_index / "index", tmp_path / "index", symlinks=True)
    settings = make_settings(tmp_path, primary_url=f"http://127.0.0.1:{free_port()}",
                             replication_token=REPLICATION_TOKEN)
    follower = Follower(settings)
    follower.start()
    assert follower.check() is False
    client = create_app(settings).test_client()
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok"
    replica = health["replica"]
    assert replica["primary"] == settings.primary_url and replica["primary_reachable"] is False
    assert "unreachable" in replica["error"] and replica["lag_s"] >= 0 and replica["version"] is None
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "kindred_replica_primary_reachable 0.0" in metrics and "kindred_replica_lag_seconds " in metrics
    assert client.get("/api/v1/search?q=ketamine").get_json()["total"] > 0


def test_a_replica_without_an_index_yet_says_why_in_healthz(tmp_path):
    settings = make_settings(tmp_path, primary_url=f"http://127.0.0.1:{free_port()}",
                             replication_token=REPLICATION_TOKEN)
    client = create_app(settings).test_client()
    assert client.get("/healthz").get_json()["replica"]["error"] == "the follower has not reported yet"
    follower = Follower(settings)
    follower.start()
    follower.check()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"]["code"] == "no_index" and "primary" in body["error"]["message"]
    assert body["replica"]["primary_reachable"] is False and "unreachable" in body["replica"]["error"]


@pytest.mark.parametrize("values, message", [
    ({"primary_url": "http://10.0.0.10:8000"}, "a replica needs replication_token"),
    ({"primary_url": "10.0.0.10:8000", "replication_token": "t"}, "primary_url must be an http"),
    ({"replication_poll_interval": 0}, "replication_poll_interval must be between"),
])
def test_replication_settings_are_checked_at_start(values, message):
    from search.config import load_settings

    with pytest.raises(ConfigError, match=message):
        load_settings(overrides=values, environ={}, look_in_cwd=False)


def test_kindred_config_hides_the_replication_token(tmp_path):
    config = tmp_path / "kindred.toml"
    config.write_text('replication_token = "do-not-print-me"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "config"])
    assert result.exit_code == 0
    assert "replication_token = '(set)'" in result.stdout and "do-not-print-me" not in result.stdout


# Real servers -----------------------------------------------------------------------------------


def process_state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat ('' when there is no such process)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def running(pid: int) -> bool:
    return process_state(pid) not in ("", "Z", "X")  # an exited child nobody reaped is a zombie


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def healthz(server: KindredServer) -> dict:
    return Http(server.url, timeout=30).json("GET", "/healthz")[1]


def serves(server: KindredServer, version: str) -> bool:
    health = healthz(server)
    return (health or {}).get("replica", {}).get("version") == version


@pytest.mark.slow
def test_a_primary_and_two_replicas_behind_nginx(tmp_path):
    primary = KindredServer(primary_settings(tmp_path / "primary"), tmp_path / "primary", workers=2,
                            startup_timeout=90)
    Indexer(primary.settings).build([SAMPLE])
    replicas = [KindredServer(replica_settings(tmp_path / name, primary.url), tmp_path / name, workers=1,
                              startup_timeout=90) for name in ("replica-1", "replica-2")]
    nginx = None
    try:
        for server in (primary, *replicas):
            server.start()  # a replica answers /healthz once it has pulled the primary's index
        nginx = ReplicasNginx(tmp_path / "nginx", primary, replicas).start()
        front = Http(nginx.url, token=CLUSTER_ADMIN_TOKEN, timeout=60)

        # A rebuild on the primary reaches both replicas.
        extra = write_jsonl(tmp_path / "extra.jsonl", [NEW_ARTICLE])
        rebuilt = Indexer(primary.settings).build([SAMPLE, extra]).version
        for replica in replicas:
            wait_for(lambda: serves(replica, rebuilt), f"{replica.url} to serve {rebuilt}")
            assert Http(replica.url).json("GET", f"/api/v1/articles/{NEW_ARTICLE['id']}")[0] == 200

        # A write through nginx goes to the primary; the upsert reaches both replicas.
        upsert = {**NEW_ARTICLE, "id": "xylazine-testing", "title": "Testing for xylazine"}
        status, body = front.json("POST", "/api/v1/articles", upsert, auth=True)
        assert status == 200 and body["ids"] == ["xylazine-testing"]
        for replica in replicas:
            wait_for(lambda: Http(replica.url).json("GET", "/api/v1/articles/xylazine-testing")[0] == 200,
                     f"the upsert to reach {replica.url}")
            assert healthz(replica)["replica"]["generation"] == 1

        # A write sent to a replica itself gets the documented answer.
        status, body = Http(replicas[0].url, token=CLUSTER_ADMIN_TOKEN).json(
            "DELETE", "/api/v1/articles/xylazine-testing", auth=True)
        assert status == 409 and body["error"]["code"] == "read_only_replica"
        assert body["error"]["primary"] == primary.url

        # One replica's master killed: its replication process goes with it (it holds the lock,
        # which names it), then the rest of it; readers through nginx do not notice.
        follower = int(layout(replicas[0].settings).replication_lock.read_text())
        os.kill(parent_of(follower), signal.SIGKILL)
        wait_for(lambda: not running(follower), "the replication process to exit with its server", timeout=30)
        replicas[0].kill()
        answers = [front.json("GET", f"/api/v1/search?q=xylazine&page={1 + n % 2}")[0] for n in range(30)]
        assert answers == [200] * 30
        assert front.json("GET", "/healthz")[1]["replica"]["primary"] == primary.url
    finally:
        if nginx is not None:
            nginx.stop()
        for server in (*replicas, primary):
            server.stop(graceful=False)


@pytest.mark.slow
def test_a_replica_killed_mid_download_never_serves_a_partial_version(tmp_path):
    primary = KindredServer(primary_settings(tmp_path / "primary"), tmp_path / "primary", workers=2,
                            startup_timeout=90)
    Indexer(primary.settings).build([SAMPLE])
    link = ThrottledProxy(primary.port)
    replica = KindredServer(replica_settings(tmp_path / "replica", link.url), tmp_path / "replica", workers=1,
                            startup_timeout=90)
    versions = layout(replica.settings).versions
    try:
        primary.start()
        link.start()
        replica.start()
        first = layout(replica.settings).current_name()

        # A slow link, a new version on the primary, and the replica killed while it downloads.
        link.bytes_per_s = 100_000
        extra = write_jsonl(tmp_path / "extra.jsonl", [NEW_ARTICLE])
        second = Indexer(primary.settings).build([SAMPLE, extra]).version
        wait_for(lambda: any(p.is_file() and p.stat().st_size > 0 for p in versions.glob(f"{PULL_PREFIX}*/**/*")),
                 "the replica to be part-way through its download")
        replica.kill()
        assert layout(replica.settings).current_name() == first
        assert [p.name for p in versions.iterdir() if not p.name.startswith(".")] == [first]
        assert list(versions.glob(f"{PULL_PREFIX}{second}.0-*")), "the kill left its partial download"

        # Back up while its primary is unreachable: the last complete version, and /healthz says so.
        link.down = True
        replica.start()  # its replication process removes the partial download as it starts
        wait_for(lambda: not list(versions.glob(f"{PULL_PREFIX}*")), "the replica to remove the partial download")
        health = wait_for(lambda: (h := healthz(replica))["replica"]["primary_reachable"] is False and h,
                          "the replica to find its primary unreachable")
        assert health["status"] == "ok" and health["version"] == first
        assert health["replica"]["error"] and health["replica"]["lag_s"] >= 0
        http = Http(replica.url)
        assert http.json("GET", f"/api/v1/articles/{NEW_ARTICLE['id']}")[0] == 404
        assert http.json("GET", "/api/v1/search?q=ketamine")[1]["total"] > 0

        # The primary is back: the replica catches up with the complete new version.
        link.bytes_per_s, link.down = None, False
        wait_for(lambda: serves(replica, second), f"the replica to serve {second}")
        assert http.json("GET", f"/api/v1/articles/{NEW_ARTICLE['id']}")[0] == 200
        assert healthz(replica)["replica"]["primary_reachable"] is True
    finally:
        replica.stop(graceful=False)
        link.stop()
        primary.stop(graceful=False)
