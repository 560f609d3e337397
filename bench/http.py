"""HTTP under load on 127.0.0.1 with Debian's wrk: Kindred against the framework and machine ceilings.

    python bench/http.py [--quick] [--json PATH]

Every run is `wrk -t2 -c32 -d5s` (after a 2 s warm-up) with bench/replay.lua, which replays a
URL list (bounded: each thread stops after --max-requests as well as at the time limit):

- Kindred (`kindred serve`: gunicorn, 2 sync workers) on the BBC corpus (2,225 articles):
  /api/v1/search over a Zipf-distributed query log, and /api/v1/related/<id> over every id;
  the search replay also with the result cache off (search_cache_size=0) and with analytics
  off (analytics_enabled=false), interleaved with the default so drift hits both alike
  (each variant first warmed for 15 s from another log, each round a new log);
- a bare Flask app returning a constant JSON under gunicorn with 2 sync workers (the ceiling
  for any Flask app here);
- nginx serving the same JSON as a static file (the machine's ceiling);
- nginx proxying to that bare Flask gunicorn;
- the related lists of the same index written by `kindred export --static` and served by nginx
  with the documented config (docs/nginx/kindred-static.conf), over the same ids.

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
    KINDRED, REPO, RESULTS, SEED, clean_env, free_port, profile_text, remove, short_queries, stop_process,
    wait_for_port, write_json,
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
    results: dict = {"limits": limits, "wrk": WRK, "runs": {}}
    runs = results["runs"]
    try:
        site = prepare_site(tmp, limits)
        files = site.pop("files")
        results["site"] = site
        results["build_s"] = {"whoosh": build_index(tmp, "whoosh"), "tantivy": build_index(tmp, "tantivy")}

        # Ceilings: bare Flask under gunicorn, nginx static, nginx -> that gunicorn.
        (tmp / "flask_bare.py").write_text(FLASK_APP.format(payload=CONSTANT), encoding="utf-8")
        (tmp / "static").mkdir()
        (tmp / "static" / "constant.json").write_text(json.dumps(CONSTANT), encoding="utf-8")
        flask_port, static_port, proxy_port = free_port(), free_port(), free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        servers.start([gunicorn, "--workers", "2", "--worker-class", "sync", "--bind", f"127.0.0.1:{flask_port}",
                       "--chdir", str(tmp), "--log-level", "warning", "flask_bare:app"], flask_port,
                      log=tmp / "flask.log")
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "", tmp=tmp,
                                          static_port=static_port, proxy_port=proxy_port, flask_port=flask_port))
        servers.start(["nginx", "-p", str(tmp), "-c", str(conf)], static_port)
        wait_for_port(proxy_port)
        constant = files["constant"]
        runs["flask"] = measure(f"http://127.0.0.1:{flask_port}", constant, constant, limits)
        print(line("bare Flask (gunicorn, 2 sync workers)", runs["flask"]), flush=True)
        runs["nginx_static"] = measure(f"http://127.0.0.1:{static_port}", constant, constant, limits)
        print(line("nginx static file", runs["nginx_static"]), flush=True)
        runs["nginx_gunicorn"] = measure(f"http://127.0.0.1:{proxy_port}", constant, constant, limits)
        print(line("nginx -> gunicorn (bare Flask)", runs["nginx_gunicorn"]), flush=True)
        servers.stop_all()

        # Kindred, whoosh: default, cache off, analytics off. The search replays interleave
        # (default, cache off, analytics off, default, ...), so drift on the machine touches
        # every variant alike; each variant reports its median round (warm-up before the first).
        variants = {
            "default": {},
            "cache_off": {"search_cache_size": "0"},
            "analytics_off": {"analytics_enabled": "false"},
        }
        bases = {name: kindred_server(servers, tmp, name, "whoosh", **settings)[1] for name, settings in variants.items()}
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

        _, base = kindred_server(servers, tmp, "tantivy", "tantivy")
        runs["search_tantivy"] = measure(base, files["search"], files["search_warm"], limits)
        print(line("Kindred search (Zipf), tantivy, default", runs["search_tantivy"]), flush=True)
        runs["related_tantivy"] = measure(base, files["related"], files["related_warm"], limits)
        print(line("Kindred related, tantivy", runs["related_tantivy"]), flush=True)
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


def http_ratios(runs: dict) -> list[dict]:
    flask = runs["flask"]["rps"]
    rows = []

    def add(name: str, value: float, target: str, met: bool) -> None:
        rows.append({"name": name, "value": round(value, 3), "target": target, "met": met})

    for key, label, target in (("related", "related / bare Flask req/s", 0.8),
                               ("search_default", "search (Zipf) / bare Flask req/s", 0.6),
                               ("related_tantivy", "related (tantivy) / bare Flask req/s", 0.8),
                               ("search_tantivy", "search (Zipf, tantivy) / bare Flask req/s", 0.6)):
        if key in runs:
            value = runs[key]["rps"] / flask
            add(label, value, f">= {target:.0%}", value >= target)
    if "related_export_nginx" in runs:
        value = runs["related_export_nginx"]["rps"] / flask
        rows.append({"name": "related via `kindred export` behind nginx / bare Flask req/s", "value": round(value, 3),
                     "target": ">= 10x", "met": value >= 10, "unit": "x"})
    cost = 1 - runs["search_default"]["rps"] / runs["search_analytics_off"]["rps"]
    add("analytics cost (1 - on/off req/s, search)", cost, "<= 10%", cost <= 0.10)
    gain = runs["search_default"]["rps"] / runs["search_cache_off"]["rps"]
    rows.append({"name": "cache on / cache off req/s (search)", "value": round(gain, 3), "target": "", "met": None})
    errors = sum(r.get("rounds_errors", r["error_count"])
                 for k, r in runs.items() if k.startswith(("search", "related")))
    add("errors in Kindred runs", errors, "0", errors == 0)
    rows.append({"name": "nginx -> gunicorn / bare Flask req/s", "value": round(runs["nginx_gunicorn"]["rps"] / flask, 3),
                 "target": "", "met": None})
    rows.append({"name": "bare Flask / nginx static req/s", "value": round(flask / runs["nginx_static"]["rps"], 3),
                 "target": "", "met": None})
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
