"""Helpers shared by the benchmark scripts: timing statistics, memory, sizes, processes,
query sets and the machine description. Standard library only (the bench extra is needed
by the systems measured, not by this module)."""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
# Kindred's command line beside the interpreter running the benchmark (the venv's).
KINDRED = str(Path(sys.executable).with_name("kindred"))

SEED = 20240501


# Statistics -------------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latency_stats(seconds: Sequence[float], wall: float) -> dict:
    """p50/p90/p99/mean/max in ms and QPS (queries over the wall time of the timed pass)."""
    ordered = sorted(seconds)
    ms = [s * 1000 for s in ordered]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3) if ms else None,
        "max_ms": round(ms[-1], 3) if ms else None,
        "qps": round(len(ms) / wall, 1) if wall > 0 else None,
    }


# Process and disk -------------------------------------------------------------------------

def _status_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def max_rss_mib() -> float:
    """This process's peak resident set size. VmHWM, not getrusage's ru_maxrss: Linux carries
    ru_maxrss over from the parent through fork and exec, so a small worker started by a big
    parent would report the parent's peak."""
    peak = _status_mib("VmHWM")
    return peak if peak is not None else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mib() -> float:
    value = _status_mib("VmRSS")
    return value if value is not None else float("nan")


def workers_rss_mib(master: int) -> dict[int, float]:
    """VmRSS of each gunicorn worker (the children of a gunicorn master, such as `kindred serve`)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    rss = {}
    for pid in map(int, children):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = round(int(line.split()[1]) / 1024, 1)
    return rss


def dir_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without KINDRED_* settings (the Makefile exports KINDRED_ENGINE), plus extra.
    KINDRED_CORPORA stays: it is the benchmark's own (bench/corpora.py), not a setting, and a
    stage started without it would look for the corpora beside the checkout instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINDRED_") or k == "KINDRED_CORPORA"}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop a process started with start_new_session=True, and its group (its own children)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def run_json(args: Sequence[str], timeout: float | None = None, **kwargs) -> dict:
    """Run a command whose output is JSON (all of it, or its last line)."""
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    try:
        return json.loads(out.stdout)  # one JSON document (kindred eval prints it indented)
    except json.JSONDecodeError:
        lines = [line for line in out.stdout.strip().splitlines() if line.strip()]
        return json.loads(lines[-1])  # progress lines, then a JSON line


def remove(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


# Profiles ---------------------------------------------------------------------------------

_SITE = re.compile(r"\S*/(site-packages|lib/python3\.\d+)/")


def profile_text(run: Callable[[], None], top: int = 15,
                 steps: dict[str, list[tuple[str, str]]] | None = None) -> dict:
    """cProfile of run(): the top functions by own time and by cumulative time, and, for
    `steps` ({label: [(file suffix, function name), ...]}), the cumulative seconds spent in
    those functions (a step's time includes what it calls; steps may overlap)."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    run()
    profiler.disable()
    views: dict = {"wall_s": round(time.perf_counter() - started, 3)}
    for order, count in (("tottime", top), ("cumulative", top + 5)):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(count)
        lines = [_SITE.sub("", line.replace(str(REPO) + "/", "")) for line in out.getvalue().splitlines()]
        # Keep the total line and the table, drop pstats' preamble.
        views[order] = "\n".join(line for line in lines
                                 if line.strip() and not line.strip().startswith(("Ordered by", "List reduced")))
    if steps:
        raw = pstats.Stats(profiler).stats  # (file, line, function) -> (cc, nc, tottime, cumtime, callers)
        views["steps_s"] = {
            label: round(sum(value[3] for (file, _, function), value in raw.items()
                             if function in {f for _, f in wanted}
                             and any(file.endswith(suffix) and function == f for suffix, f in wanted)), 4)
            for label, wanted in steps.items()
        }
    return views


# Query sets -------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
# A small English stop list for picking query words from titles (not any system's own list).
PICK_STOP = frozenset("""a an and are as at be but by for from has have he her his how i in is it its of on or
she that the their them there these they this to was were what when where which who why will with you your""".split())


def short_queries(titles: Sequence[str], n: int, seed: int = SEED) -> list[str]:
    """1-3 consecutive title words (letters, 3+ characters, not stop words), lower-cased."""
    rng = random.Random(seed)
    queries: list[str] = []
    attempts = 0
    while len(queries) < n and attempts < n * 50:
        attempts += 1
        title = titles[rng.randrange(len(titles))]
        words = [w.lower() for w in _WORD.findall(title)
                 if len(w) >= 3 and not w.isdigit() and w.lower() not in PICK_STOP]
        if not words:
            continue
        size = min(rng.randint(1, 3), len(words))
        start = rng.randrange(len(words) - size + 1)
        queries.append(" ".join(words[start:start + size]))
    return queries


def prose(text: str) -> str:
    """Question-like text with query syntax removed: quotes, stars, leading minus, field: prefixes."""
    text = re.sub(r"[\"*:\u201c\u201d]", " ", text)
    text = re.sub(r"(?<!\w)-+", " ", text)
    return " ".join(text.split())


def first_sentence(body: str, max_words: int = 30) -> str:
    paragraph = next((p for p in body.split("\n") if len(p.split()) >= 5), body)
    sentence = re.split(r"(?<=[.!?])\s+", paragraph.strip(), maxsplit=1)[0]
    return prose(" ".join(sentence.split()[:max_words]))


def long_queries_from_docs(docs: Sequence[dict], n: int, seed: int = SEED) -> list[str]:
    """First sentences (up to 30 words) of random documents, as question-like text."""
    rng = random.Random(seed + 1)
    picked: list[str] = []
    order = list(range(len(docs)))
    rng.shuffle(order)
    for i in order:
        sentence = first_sentence(docs[i].get("body", ""))
        if len(_WORD.findall(sentence)) >= 5:
            picked.append(sentence)
        if len(picked) >= n:
            break
    return picked


def plain_words(query: str) -> list[str]:
    """The query's words, lower-cased, for the raw systems' own parsers (no syntax left)."""
    return [w.lower() for w in re.findall(r"[^\W_]+", query)]


def sample(items: Sequence, n: int, seed: int = SEED) -> list:
    rng = random.Random(seed + 2)
    if n >= len(items):
        return list(items)
    return rng.sample(list(items), n)


# Machine ----------------------------------------------------------------------------------

LIBRARIES = ("kindred", "whoosh3", "tantivy", "bm25s", "PyStemmer", "flask", "gunicorn", "nltk", "numpy",
             "scipy", "scikit-learn", "sparse-dot-topn", "matplotlib")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return float("nan")


def _tool_version(args: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(args), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def checkout_commit(repo: Path = REPO) -> str:
    """The checkout's commit, read from .git's files (no git command)."""
    git = repo / ".git"
    try:
        if git.is_file():  # a worktree: .git names its own directory, whose commondir holds the refs
            git = (repo / git.read_text().split(":", 1)[1].strip()).resolve()
        common = (git / (git / "commondir").read_text().strip()).resolve() if (git / "commondir").exists() else git
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head[:12]
        ref = head.split(" ", 1)[1]
        if (common / ref).exists():
            return (common / ref).read_text().strip()[:12]
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        pass
    return "unknown"


def machine() -> dict:
    import sqlite3

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _mem_total_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "distro": _os_release(),
        "python": platform.python_version(),
        "libraries": versions,
        "wrk": _tool_version(["wrk", "--version"]),
        "nginx": _tool_version(["nginx", "-v"]),
        "commit": checkout_commit(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return ""


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def read_json(path: Path) -> object:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def chunks(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
