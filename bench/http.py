"""HTTP under load on 127.0.0.1 with Debian's wrk: Kindred against the framework and machine ceilings.

    python bench/http.py [--quick] [--json PATH]

Every run is `wrk -t2 -c32 -d5s` (after a 2 s warm-up) with bench/replay.lua, which replays a
URL list (bounded: each thread stops after --max-requests as well as at the time limit):

- Kindred (`kindred serve`: gunicorn, 2 workers of its default worker_type, gevent) on the
  BBC corpus (2,225 articles): /api/v1/search over a Zipf-distributed query log, and
  /api/v1/related/<id> over every id; the search replay also with the result cache off
  (search_cache_size=0), with analytics off (analytics_enabled=false) and with sync workers
  (worker_type=sync), interleaved with the default so drift hits them alike (each variant
  first warmed for 15 s from another log, each round a new log); related also with sync workers;
- a bare Flask app returning a constant JSON under gunicorn with 2 workers, once sync and once
  gevent (the ceiling for any Flask app here, for each worker type Kindred runs);
- nginx serving the same JSON as a static file (the machine's ceiling);
- nginx proxying to that bare Flask gunicorn;
- the related lists of the same index written by `kindred export --static` and served by nginx
  with the documented config (docs/nginx/kindred-static.conf), over the same ids.

Also measured: `import web.app` in a fresh interpreter (median of 5; what a serving worker
loads before its first request, and whether that includes scikit-learn, scipy, numpy or the
indexer), and the resident memory (VmRSS) of every gunicorn worker after its runs.

Servers are started here, on free ports, and stopped at the end; nothing else is contacted.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/X.py`, Python puts bench/ first on sys.path, where bench/http.py would
# shadow the standard library's `http` (urllib, nltk and flask import it): use the repo root.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import argparse
import json
import logging
import os
import random
import subprocess
import tempfile
import time
import urllib.request
from urllib.parse import quote, quote_plus, unquote

from bench.common import (  # noqa: E402
    KINDRED, PYTHON, REPO, RESULTS, SEED, clean_env, free_port, profile_text, remove, run_json, short_queries,
    stop_process, wait_for_port, workers_rss_mib, write_json,
)

LUA = Path(__file__).resolve().with_name("replay.lua")
CONSTANT = {"status": "ok", "query": "constant", "total": 0, "hits": []}
FLASK_APP = """from flask import Flask, jsonify

app = Flask(__name__)
PAYLOAD = {payload!r}


@app.get("/")
@app.get("/<path:anything>")
def constant(anything=""):
    return jsonify(PAYLOAD)
"""
NGINX_CONF = """{user}
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/json;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen 127.0.0.1:{static_port};
        root {tmp}/static;
        location / {{ try_files $uri /constant.json; }}
    }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_pass http://127.0.0.1:{flask_port};
            proxy_set_header Host $host;
        }}
    }}
}}
"""
# nginx serving `kindred export --static`: the documented server block, its port and root changed.
STATIC_SITE = REPO / "docs" / "nginx" / "kindred-static.conf"
NGINX_STATIC_CONF = """{user}
worker_processes 2;
daemon off;
pid {tmp}/nginx-export.pid;
error_log {tmp}/nginx-export-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    include {site};
}}
"""
# The writing side a serving worker must not load at import (issue 16, light workers): the numeric
# libraries, NLTK and the indexer's build code (its small errors, locks and storage modules are allowed).
HEAVY_MODULES = ("sklearn", "scipy", "numpy", "sparse_dot_topn", "nltk", "indexer.build", "indexer.related",
                 "indexer.sources", "indexer.writes")
IMPORT_PROBE = f"""import json, sys, time
started, cpu = time.perf_counter(), time.process_time()
import web.app
print(json.dumps({{"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
                  "heavy_loaded": sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)}}))
"""
IMPORT_REPEATS = 5
IMPORT_TARGET_S = 0.5  # issue 16: `import web.app`, median wall seconds
FULL = {"duration": 5, "warm": 3, "warm_search": 15, "rounds": 3, "log_length": 20_000, "distinct": 5_000, "profile": 500}
QUICK = {"duration": 2, "warm": 1, "warm_search": 2, "rounds": 1, "log_length": 2_000, "distinct": 500, "profile": 100}
MAX_REQUESTS_PER_THREAD = 1_000_000
WRK = {"threads": 2, "connections": 32}


def wrk_command(base_url: str, urls: Path, duration: int, timeout_s: int = 5) -> list[str]:
    return ["wrk", f"-t{WRK['threads']}", f"-c{WRK['connections']}", f"-d{duration}s", "--timeout", f"{timeout_s}s",
            "-s", str(LUA), base_url, "--", str(urls), str(MAX_REQUESTS_PER_THREAD)]


def wrk(base_url: str, urls: Path, duration: int) -> dict:
    command = wrk_command(base_url, urls, duration)
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    return wrk_summary(command, urls, out)


def wrk_summary(command: list[str], urls: Path, out: subprocess.CompletedProcess) -> dict:
    """What bench/replay.lua's done() reported, or RuntimeError with wrk's output."""
    line = next((l for l in out.stdout.splitlines() if l.startswith("JSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
    raw = json.loads(line[5:])
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "errors": errors,
        "error_count": sum(errors.values()),
        "command": " ".join(command[:-3] + ["--", urls.name, str(MAX_REQUESTS_PER_THREAD)]).replace(str(REPO) + "/", ""),
    }


def measure(base_url: str, urls: Path, warm_urls: Path | None, limits: dict) -> dict:
    if warm_urls is not None:
        wrk(base_url, warm_urls, limits["warm"])
    return wrk(base_url, urls, limits["duration"])


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
        return response.status


# Inputs -----------------------------------------------------------------------------------

def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def zipf_log(queries: list[str], length: int, seed: int, s: float = 1.0) -> list[str]:
    """A query log whose query of popularity rank r appears with probability ~ 1/r^s."""
    rng = random.Random(seed)
    weights = [1 / (rank ** s) for rank in range(1, len(queries) + 1)]
    return [f"/api/v1/search?q={quote_plus(q)}" for q in rng.choices(queries, weights=weights, k=length)]


def prepare_site(tmp: Path, limits: dict) -> dict:
    from bench.corpora import read

    docs = read("bbc")
    with (tmp / "bbc.jsonl").open("w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({k: d[k] for k in ("id", "title", "body", "category") if k in d}) + "\n")
    distinct = list(dict.fromkeys(short_queries([d["title"] for d in docs], limits["distinct"] * 2)))
    distinct = distinct[: limits["distinct"]]
    ids = [d["id"] for d in docs]
    rng = random.Random(SEED)
    rng.shuffle(ids)
    files = {
        "search": write_lines(tmp / "search.txt", zipf_log(distinct, limits["log_length"], SEED)),
        "search_warm": write_lines(tmp / "search-warm.txt", zipf_log(distinct, limits["log_length"], SEED + 7)),
        # One log per round of the interleaved variants: a round replays new draws from the
        # same distribution, never the very requests an earlier round put in the cache.
        "search_rounds": [write_lines(tmp / f"search-round-{n}.txt", zipf_log(distinct, limits["log_length"], SEED + 11 + n))
                          for n in range(limits["rounds"])],
        "related": write_lines(tmp / "related.txt", [f"/api/v1/related/{quote(i)}" for i in ids]),
        "related_warm": write_lines(tmp / "related-warm.txt", [f"/api/v1/related/{quote(i)}" for i in reversed(ids)]),
        "constant": write_lines(tmp / "constant.txt", ["/constant.json"]),
    }
    log = files["search"].read_text().splitlines()
    return {"files": files, "articles": len(docs), "distinct_queries": len(distinct), "log_length": len(log),
            "distinct_in_log": len(set(log)), "top_query_share": round(log.count(max(set(log), key=log.count)) / len(log), 3),
            "related_ids": len(ids)}


def write_config(tmp: Path, name: str, engine: str) -> Path:
    config = tmp / f"{name}.toml"
    config.write_text("\n".join([
        f'index_dir = "{tmp / ("index-" + engine)}"',
        f'analytics_db = "{tmp / (name + "-analytics.sqlite")}"',
        f'synonyms = "{REPO / "data" / "synonyms.txt"}"',
        f'rules = "{REPO / "data" / "rules.toml"}"',
        f'engine = "{engine}"',
    ]) + "\n", encoding="utf-8")
    return config


def build_index(tmp: Path, engine: str) -> float:
    config = write_config(tmp, f"build-{engine}", engine)
    started = time.perf_counter()
    subprocess.run([KINDRED, "--config", str(config), "index", str(tmp / "bbc.jsonl"), "--quiet"], check=True,
                   env=clean_env(), capture_output=True, text=True)
    return round(time.perf_counter() - started, 1)


class Servers:
    """Every process started here, stopped in reverse order (each is its own process group)."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, command: list[str], port: int, env: dict | None = None, cwd: Path | None = None,
              log: Path | None = None) -> subprocess.Popen:
        out = open(log, "wb") if log else subprocess.DEVNULL
        proc = subprocess.Popen(command, env=env or clean_env(), cwd=cwd, stdout=subprocess.DEVNULL, stderr=out,
                                start_new_session=True)
        self.procs.append(proc)
        wait_for_port(port, 60, proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        stop_process(proc)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs.clear()


def import_time() -> dict:
    """`import web.app` in fresh interpreters: the median wall and CPU seconds of IMPORT_REPEATS,
    and the heavy modules it loaded."""
    probes = [run_json([PYTHON, "-c", IMPORT_PROBE], cwd=REPO, env=clean_env()) for _ in range(IMPORT_REPEATS)]
    median = len(probes) // 2
    return {"repeats": len(probes),
            "wall_s": round(sorted(p["wall_s"] for p in probes)[median], 3),
            "cpu_s": round(sorted(p["cpu_s"] for p in probes)[median], 3),
            "wall_each_s": [round(p["wall_s"], 3) for p in probes],
            "heavy_loaded": sorted({m for p in probes for m in p["heavy_loaded"]}),
            "slowest_s": slowest_imports()}


def slowest_imports(count: int = 12) -> list[tuple[str, float]]:
    """The modules whose import (what they import included) took longest in one fresh
    `python -X importtime -c "import web.app"`: where a worker's start-up goes."""
    out = subprocess.run([PYTHON, "-X", "importtime", "-c", "import web.app"], cwd=REPO, env=clean_env(),
                         capture_output=True, text=True, check=True)
    modules = []
    for entry in out.stderr.splitlines():
        _, _, fields = entry.partition("import time:")
        if fields.count("|") == 2:
            _, cumulative, name = fields.split("|")
            if cumulative.strip().isdigit():
                modules.append((name.strip(), round(int(cumulative) / 1e6, 3)))
    return sorted(modules, key=lambda m: -m[1])[:count]


def kindred_server(servers: Servers, tmp: Path, name: str, engine: str, **settings: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = write_config(tmp, name, engine)
    env = clean_env(**{f"KINDRED_{k.upper()}": v for k, v in settings.items()})
    proc = servers.start([KINDRED, "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(port),
                          "--workers", "2"], port, env=env, log=tmp / f"{name}.log")
    base = f"http://127.0.0.1:{port}"
    assert get(base + "/healthz") == 200
    return proc, base


# Run --------------------------------------------------------------------------------------

def run(limits: dict) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="kindred-bench-http-"))
    servers = Servers()
    results: dict = {"limits": limits, "wrk": WRK, "runs": {}, "worker_rss_mib": {}}
    runs, rss = results["runs"], results["worker_rss_mib"]
    try:
        results["import"] = import_time()
        print(f"  import web.app: {results['import']['wall_s']} s (median of {results['import']['repeats']}), "
              f"heavy modules loaded: {results['import']['heavy_loaded'] or 'none'}", flush=True)
        site = prepare_site(tmp, limits)
        files = site.pop("files")
        results["site"] = site
        results["build_s"] = {"whoosh": build_index(tmp, "whoosh"), "tantivy": build_index(tmp, "tantivy")}

        # Ceilings: bare Flask under gunicorn (sync and gevent workers), nginx static, nginx -> the sync gunicorn.
        (tmp / "flask_bare.py").write_text(FLASK_APP.format(payload=CONSTANT), encoding="utf-8")
        (tmp / "static").mkdir()
        (tmp / "static" / "constant.json").write_text(json.dumps(CONSTANT), encoding="utf-8")
        flask_port, flask_gevent_port, static_port, proxy_port = free_port(), free_port(), free_port(), free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        flask_procs = {
            worker: servers.start([gunicorn, "--workers", "2", "--worker-class", worker, "--bind", f"127.0.0.1:{port}",
                                   "--chdir", str(tmp), "--log-level", "warning", "flask_bare:app"], port,
                                  log=tmp / f"flask-{worker}.log")
            for worker, port in (("sync", flask_port), ("gevent", flask_gevent_port))}
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "", tmp=tmp,
                                          static_port=static_port, proxy_port=proxy_port, flask_port=flask_port))
        servers.start(["nginx", "-p", str(tmp), "-c", str(conf)], static_port)
        wait_for_port(proxy_port)
        constant = files["constant"]
        runs["flask"] = measure(f"http://127.0.0.1:{flask_port}", constant, constant, limits)
        print(line("bare Flask (gunicorn, 2 sync workers)", runs["flask"]), flush=True)
        runs["flask_gevent"] = measure(f"http://127.0.0.1:{flask_gevent_port}", constant, constant, limits)
        print(line("bare Flask (gunicorn, 2 gevent workers)", runs["flask_gevent"]), flush=True)
        runs["nginx_static"] = measure(f"http://127.0.0.1:{static_port}", constant, constant, limits)
        print(line("nginx static file", runs["nginx_static"]), flush=True)
        runs["nginx_gunicorn"] = measure(f"http://127.0.0.1:{proxy_port}", constant, constant, limits)
        print(line("nginx -> gunicorn (bare Flask)", runs["nginx_gunicorn"]), flush=True)
        for worker, proc in flask_procs.items():
            rss[f"flask_{worker}"] = list(workers_rss_mib(proc.pid).values())
        servers.stop_all()

        # Kindred, whoosh: default, cache off, analytics off, sync workers. The search replays
        # interleave (default, cache off, analytics off, sync, default, ...), so drift on the machine
        # touches every variant alike; each variant reports its median round (warm-up before the first).
        variants = {
            "default": {},
            "cache_off": {"search_cache_size": "0"},
            "analytics_off": {"analytics_enabled": "false"},
            "sync": {"worker_type": "sync"},
        }
        started = {name: kindred_server(servers, tmp, name, "whoosh", **settings) for name, settings in variants.items()}
        bases = {name: base for name, (_, base) in started.items()}
        rounds: dict[str, list[dict]] = {name: [] for name in variants}
        for name, base in bases.items():  # towards the cache's steady state before any round
            wrk(base, files["search_warm"], limits["warm_search"])
        for number in range(limits["rounds"]):
            for name, base in bases.items():
                rounds[name].append(measure(base, files["search_rounds"][number], None, limits))
        for name, measured in rounds.items():
            median = sorted(measured, key=lambda r: r["rps"])[len(measured) // 2]
            median["rounds_rps"] = [r["rps"] for r in measured]
            median["rounds_errors"] = sum(r["error_count"] for r in measured)
            runs[f"search_{name}"] = median
            print(line(f"Kindred search (Zipf), whoosh, {name}", median)
                  + f"  rounds: {', '.join(f'{r:.0f}' for r in median['rounds_rps'])}", flush=True)
        runs["related"] = measure(bases["default"], files["related"], files["related_warm"], limits)
        print(line("Kindred related, whoosh", runs["related"]), flush=True)
        runs["related_sync"] = measure(bases["sync"], files["related"], files["related_warm"], limits)
        print(line("Kindred related, whoosh, sync", runs["related_sync"]), flush=True)
        for name, (proc, _) in started.items():
            rss[f"whoosh_{name}"] = list(workers_rss_mib(proc.pid).values())
        servers.stop_all()

        # The same lists exported as files (Kindred not running), behind nginx.
        results["export"] = export_related(tmp, "whoosh")
        port = static_nginx(servers, tmp, Path(results["export"]["directory"]))
        version = results["export"]["version"]
        export_files = {name: write_lines(tmp / f"{name}-export.txt", exported_urls(files[name], version))
                        for name in ("related", "related_warm")}
        runs["related_export_nginx"] = measure(f"http://127.0.0.1:{port}", export_files["related"],
                                               export_files["related_warm"], limits)
        print(line("related via kindred export, nginx", runs["related_export_nginx"]), flush=True)
        servers.stop_all()

        proc, base = kindred_server(servers, tmp, "tantivy", "tantivy")
        runs["search_tantivy"] = measure(base, files["search"], files["search_warm"], limits)
        print(line("Kindred search (Zipf), tantivy, default", runs["search_tantivy"]), flush=True)
        runs["related_tantivy"] = measure(base, files["related"], files["related_warm"], limits)
        print(line("Kindred related, tantivy", runs["related_tantivy"]), flush=True)
        rss["tantivy_default"] = list(workers_rss_mib(proc.pid).values())
        servers.stop_all()

        results["profiles"] = profile_app(tmp, files, limits)
    finally:
        servers.stop_all()
        remove(tmp)
    results["ratios"] = http_ratios(runs)
    return results


def export_related(tmp: Path, engine: str) -> dict:
    """`kindred export --static` of the index built with `engine`: its version and duration."""
    config = write_config(tmp, f"export-{engine}", engine)
    directory = tmp / f"export-{engine}"
    started = time.perf_counter()
    subprocess.run([KINDRED, "--config", str(config), "export", "--static", str(directory), "--site-url",
                    "https://www.example.org/"], check=True, env=clean_env(), capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    version = json.loads((directory / "current.json").read_text(encoding="utf-8"))["version"]
    manifest = json.loads((directory / version / "manifest.json").read_text(encoding="utf-8"))
    return {"directory": str(directory), "version": version, "seconds": seconds, "articles": manifest["articles"],
            "files": manifest["file_count"], "bytes": manifest["bytes"]}


def exported_urls(api_urls: Path, version: str) -> list[str]:
    """The exported file of each /api/v1/related/<id> in a URL list, in the same order."""
    from web.export import file_name

    prefix = "/api/v1/related/"
    return [f"/{version}/related/{file_name(unquote(url[len(prefix):]))}.json"
            for url in api_urls.read_text(encoding="utf-8").splitlines() if url.startswith(prefix)]


def static_nginx(servers: Servers, tmp: Path, directory: Path) -> int:
    """nginx with docs/nginx/kindred-static.conf (port and root changed) serving an export."""
    port = free_port()
    site = tmp / "kindred-static.conf"
    site.write_text(STATIC_SITE.read_text(encoding="utf-8").replace("listen 80;", f"listen 127.0.0.1:{port};")
                    .replace("root /srv/kindred/var/static;", f"root {directory};"), encoding="utf-8")
    conf = tmp / "nginx-export.conf"
    conf.write_text(NGINX_STATIC_CONF.format(user="user root;" if os.geteuid() == 0 else "", tmp=tmp, site=site))
    servers.start(["nginx", "-p", str(tmp), "-c", str(conf)], port)
    return port


def profile_app(tmp: Path, files: dict, limits: dict) -> dict:
    """Where a request's time goes: the default whoosh app in this process (Flask's test client,
    no sockets), warmed with the warm-up logs, then profiled over the first requests of each log."""
    from search.config import load_settings
    from web.app import create_app

    # As `kindred serve` does (web.serve): the access log at INFO, written to a stream (here /dev/null).
    access = logging.getLogger("kindred.access")
    access.handlers[:] = [logging.StreamHandler(open(os.devnull, "w", encoding="utf-8"))]
    access.setLevel(logging.INFO)
    access.propagate = False
    settings = load_settings(tmp / "default.toml", environ={}, look_in_cwd=False)
    app = create_app(settings)
    client = app.test_client()
    count = limits["profile"]
    profiles = {}
    for name, log, warm in (("search (Zipf)", files["search"], files["search_warm"]),
                            ("related", files["related"], files["related_warm"])):
        for url in warm.read_text().splitlines()[:count]:
            client.get(url)
        urls = log.read_text().splitlines()[:count]

        def replay(urls=urls):
            for url in urls:
                if client.get(url).status_code != 200:
                    raise RuntimeError(f"{url} failed")

        started = time.perf_counter()
        replay()
        plain = time.perf_counter() - started
        profiles[name] = {**profile_text(replay), "note": (
            f"The first {len(urls)} requests of the {name} log after {count} warm-up requests from the other log; "
            f"without the profiler they took {plain * 1000 / len(urls):.2f} ms each in one process "
            f"(≈ {2 * len(urls) / plain:,.0f} req/s for 2 workers if nothing else used the CPU).")}
    app.extensions["kindred.analytics"].flush()
    app.extensions["kindred.search"].close()
    return profiles


# Issue 16's targets, each Kindred figure over the bare Flask ceiling of the same worker type:
# (Kindred run, worker type of both sides, label, least share of bare Flask's req/s).
READER_TARGETS = (
    ("related", "gevent", "related", 0.9),
    ("search_default", "gevent", "search (Zipf)", 0.6),
    ("related_sync", "sync", "related", 0.9),
    ("search_sync", "sync", "search (Zipf)", 0.6),
    ("related_tantivy", "gevent", "related (tantivy)", 0.9),
    ("search_tantivy", "gevent", "search (Zipf, tantivy)", 0.6),
)
EXPORT_TARGET = 10


def http_ratios(runs: dict) -> list[dict]:
    """Every ratio of the run; rows with `issue: 16` are that issue's targets."""
    flask = {"sync": runs["flask"]["rps"], "gevent": runs["flask_gevent"]["rps"]}
    rows = []

    def add(name: str, value: float, target: str, met: bool | None, **more) -> None:
        rows.append({"name": name, "value": round(value, 3), "target": target, "met": met, **more})

    for key, worker, label, target in READER_TARGETS:
        if key in runs:
            value = runs[key]["rps"] / flask[worker]
            add(f"{label} / bare Flask req/s, both with 2 {worker} workers", value, f">= {target:.0%}",
                value >= target, issue=16)
    if "related_export_nginx" in runs:
        # Against the faster of the two bare Flask servers: the stricter comparison.
        worker = max(flask, key=flask.get)
        value = runs["related_export_nginx"]["rps"] / flask[worker]
        add(f"related via `kindred export` behind nginx / bare Flask req/s ({worker}, the faster)", value,
            f">= {EXPORT_TARGET}x", value >= EXPORT_TARGET, unit="x", issue=16)
    cost = 1 - runs["search_default"]["rps"] / runs["search_analytics_off"]["rps"]
    add("analytics cost (1 - on/off req/s, search)", cost, "<= 10%", cost <= 0.10)
    add("cache on / cache off req/s (search)", runs["search_default"]["rps"] / runs["search_cache_off"]["rps"], "", None)
    errors = sum(r.get("rounds_errors", r["error_count"])
                 for k, r in runs.items() if k.startswith(("search", "related")))
    add("errors in Kindred runs", errors, "0", errors == 0)
    add("nginx -> gunicorn / bare Flask req/s (sync)", runs["nginx_gunicorn"]["rps"] / flask["sync"], "", None)
    add("bare Flask (sync) / nginx static req/s", flask["sync"] / runs["nginx_static"]["rps"], "", None)
    add("bare Flask gevent / sync req/s", flask["gevent"] / flask["sync"], "", None)
    return rows


def line(label: str, r: dict) -> str:
    return (f"  {label:44} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
            f"errors {r['error_count']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 s runs, one round (smoke run)")
    parser.add_argument("--json", type=Path, default=RESULTS / "http.json")
    args = parser.parse_args()
    started = time.perf_counter()
    results = run(QUICK if args.quick else FULL)
    results["quick"] = args.quick
    results["wall_s"] = round(time.perf_counter() - started, 1)
    print("\nRatios (same run):")
    for row in results["ratios"]:
        verdict = "" if row["met"] is None else ("met" if row["met"] else "NOT met")
        print(f"  {row['name']:46} {row['value']:8.3f}  {row['target']:8} {verdict}")
    write_json(args.json, results)
    print(f"\nwrote {args.json} in {results['wall_s']:.0f}s")


if __name__ == "__main__":
    main()
