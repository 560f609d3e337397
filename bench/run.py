"""Run the whole benchmark suite, one stage after another, and write docs/benchmarks.md.

    python bench/run.py            # `make bench`: everything, rewrites docs/benchmarks.md and docs/img/bench-*.png
    python bench/run.py --quick    # `make bench-quick`: a smoke run, writes bench/results/quick/ only
    python bench/run.py --stages engines http   # some stages, then the report from all stored results

Stages run sequentially (the machine has 2 cores; nothing runs beside a measurement):
relevance (`kindred eval`), engines (bench/engines.py), build (bench/build.py: a full build's
throughput and steps), http (bench/http.py), related (bench/related_scale.py), scaling
(bench/scaling.py: the related batch in process and on a local Dask cluster), replication
(bench/replication.py) and abuse (bench/abuse.py: hostile queries through HTTP). Each writes its JSON under bench/results/ (git-ignored); the report
(bench/report.py) is then generated from those files, so it can be regenerated alone.
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
import datetime as dt
import hashlib
import os
import subprocess
import time

from bench.common import PYTHON, REPO, RESULTS, clean_env, machine, read_json, write_json

STAGES = ("relevance", "engines", "build", "http", "related", "scaling", "replication", "abuse")
RELATED_SIZES = {"full": ["10000", "30000", "100000"], "quick": ["1000", "3000"]}
SCALING_SIZES = {"full": ["100000", "300000"], "quick": ["2000", "5000"]}


def stage_command(stage: str, quick: bool, out: Path) -> list[str]:
    bench = REPO / "bench"
    if stage == "related":
        sizes = RELATED_SIZES["quick" if quick else "full"]
        return [PYTHON, str(bench / "related_scale.py"), "--sizes", *sizes, "--json", str(out)]
    if stage == "scaling":
        sizes = SCALING_SIZES["quick" if quick else "full"]
        return [PYTHON, str(bench / "scaling.py"), "--sizes", *sizes, "--json", str(out)]
    command = [PYTHON, str(bench / f"{stage}.py"), "--json", str(out)]
    return command + (["--quick"] if quick else [])


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def sources_digest() -> str:
    """sha1 of Kindred's sources (search/, indexer/, web/, kindred/): tells whether the code
    measured changed during the run (the checkout may be edited while it runs)."""
    digest = hashlib.sha1()
    for package in ("search", "indexer", "web", "kindred"):
        for path in sorted((REPO / package).rglob("*")):
            wanted = path.suffix in (".py", ".txt", ".html", ".js", ".css") and "__pycache__" not in path.parts
            if wanted and path.is_file():
                digest.update(str(path.relative_to(REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: small slices, short runs")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--no-report", action="store_true", help="measure only")
    args = parser.parse_args()

    results = RESULTS / "quick" if args.quick else RESULTS
    results.mkdir(parents=True, exist_ok=True)
    run_file = results / "run.json"
    previous = read_json(run_file) if run_file.exists() else {}
    run = {
        "machine": machine(),
        "quick": args.quick,
        "command": "make bench-quick" if args.quick else "make bench",
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "stages": {name: info for name, info in previous.get("stages", {}).items() if name not in args.stages},
    }
    started = time.perf_counter()
    failed = []
    for stage in args.stages:
        out = results / f"{stage}.json"
        command = stage_command(stage, args.quick, out)
        print(f"\n### {stage}: {' '.join(command).replace(str(REPO) + '/', '')}", flush=True)
        before, digest = load(), sources_digest()
        t = time.perf_counter()
        code = subprocess.run(command, cwd=REPO, env=clean_env()).returncode
        info = {"command": " ".join(command).replace(str(REPO) + "/", "").replace(PYTHON, ".venv/bin/python"),
                "wall_s": round(time.perf_counter() - t, 1), "load_before": before, "load_after": load(),
                "sources_before": digest, "sources_after": sources_digest(),
                "exit_code": code, "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        run["stages"][stage] = info
        if code != 0:
            failed.append(stage)
            print(f"!!! stage {stage} failed with exit code {code}", flush=True)
        write_json(run_file, run)
    run["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(run_file, run)
    print(f"\nall stages done in {run['wall_s'] / 60:.1f} min", flush=True)

    if not args.no_report:
        from bench.report import write_report

        target = write_report(results, quick=args.quick)
        text = target.read_text(encoding="utf-8")
        if "## Targets" in text:
            print("\n" + text[text.index("## Targets"):].split("\n## ", 1)[0].strip(), flush=True)
        print(f"\nwrote {target.relative_to(REPO)}", flush=True)
    if failed:
        sys.exit(f"failed stages: {', '.join(failed)}")


if __name__ == "__main__":
    main()
