"""Hostile source files (`make hostile`): every known attack on the readers is refused, each
in bounded time and memory (docs/reliability.md#hostile-files).

    python -m tests.reliability.hostile [--scale full|small] [--out var/reliability/hostile.json]

The files are written into a temporary directory, never committed: gzip bombs (.jsonl.gz,
.xml.gz), HTML nesting that hides from a naive tag scanner (`<div a="<">`), one element
with 500,000 attributes, 6.8 MB of YAML front matter, a 39 MB page, misnested formatting
tags that make lexbor re-open thousands of elements, tags nested in a way only a parser
follows (left to the markup worker's time limit), deep XML, oversized records of every streamed format, and 1.5 million skipped
WordPress items. `full` is the size each was measured at; `small` (the pytest version in
`make test`) is big enough to cross every limit.

Each file is indexed (`Indexer.build`, as `kindred index` does) in a process of its own,
forked from one that has already imported the indexer (interpreter start-up is not
counted). The process may use 1 GiB of address space beyond what it inherits and 120 s, so
that a runaway fails instead of eating the machine. Its time is measured from fork to exit,
its peak RSS comes from wait4 (the process and the markup worker it starts). Exit status 0
when every file was refused with its expected message, or skipped and counted, within
PEAK_LIMIT_MB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from indexer.sources.isolation import MARKUP_SECONDS, default_worker

PEAK_LIMIT_MB = 300
ADDRESS_SPACE_MARGIN = 2**30
TIME_CAP_S = 120
WXR_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/">\n<channel>\n<title>Hostile</title>\n')
WXR_TAIL = "</channel>\n</rss>\n"
POST = ("<item><title>A real post</title><content:encoded><![CDATA[<p>Text.</p>]]></content:encoded>"
        "<wp:post_id>1</wp:post_id><wp:status>publish</wp:status><wp:post_type>post</wp:post_type></item>\n")
ATTACHMENT = "<item><wp:post_type>attachment</wp:post_type></item>\n"


@dataclass
class Attack:
    name: str
    suffix: str
    write: Callable[[Path, bool], None]  # (path, full size?)
    expected: str  # in the rejection (or the build's error); "" for a file that only skips
    skipped: int = 0  # items the file skips, counted (full size; small is a tenth)
    full_only: bool = False  # too slow for `make test`: it runs into a limit of seconds


@dataclass
class Outcome:
    name: str
    size_mb: float
    seconds: float
    peak_mb: float
    messages: list[str]
    skipped: int
    passed: bool
    problem: str = ""


@dataclass
class HostileResult:
    scale: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [f"{o.name}: {o.problem}" for o in self.outcomes if not o.passed]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)


# Writers -----------------------------------------------------------------------------------

def gzip_members(path: Path, head: bytes, unit: bytes, total_bytes: int, tail: bytes) -> None:
    """A gzip file expanding to about total_bytes: one member of 16 MiB of `unit`, repeated
    (gzip readers read concatenated members as one stream), so it is written in moments."""
    member = gzip.compress(unit * (16 * 2**20 // len(unit)), compresslevel=9)
    with path.open("wb") as fh:
        fh.write(gzip.compress(head))
        for _ in range(max(1, total_bytes // (16 * 2**20))):
            fh.write(member)
        fh.write(gzip.compress(tail))


def page(body: str, head: str = "<title>Hostile</title>") -> str:
    return f"<!doctype html><html><head>{head}</head><body><main>{body}</main></body></html>"


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


ATTACKS = (
    Attack(".jsonl.gz bomb: 1.5 GB of one record, repeated", ".jsonl.gz", lambda p, full: gzip_members(
        p, b"", b'{"id": "same", "title": "Bomb"}\n', (1500 if full else 64) * 2**20, b""), "decompression bomb"),
    Attack(".xml.gz bomb: 16 million skipped items", ".xml.gz", lambda p, full: gzip_members(
        p, (WXR_HEAD + POST).encode(), ATTACHMENT.encode(), (800 if full else 64) * 2**20, WXR_TAIL.encode()),
        "decompression bomb"),
    Attack('nesting past the scanner: <div a="<"> × 130,000', ".html", lambda p, full: write_text(
        p, page('<div a="<">' * (130_000 if full else 2_000))), "nests more than 1,000 elements deep"),
    Attack("one element, 500,000 attributes", ".html", lambda p, full: write_text(
        p, page("<div " + " ".join(f"a{i}" for i in range(500_000 if full else 5_000)) + ">x</div>")),
        "an element has more than 1,000 attributes"),
    Attack("6.8 MB of YAML front matter", ".md", lambda p, full: write_text(
        p, "---\ntitle: Front\n" + "".join(f"key{i}: [a, b, {{c: d}}]\n" for i in range(262_000 if full else 5_000))
        + "---\nBody.\n"), "front matter is longer than 64 KiB"),
    Attack("a 39 MB page", ".html", lambda p, full: write_text(
        p, page("<p>" + "word " * ((39 if full else 17) * 2**20 // 5) + "</p>")), "file is larger than 16 MiB"),
    Attack("misnested formatting: <p><i a1><p><i a2>...", ".html", lambda p, full: write_text(
        p, page("".join(f"<p><i a{k}>" for k in range(20_000 if full else 2_000)))),
        "nests more than 1,000 elements deep"),
    Attack("formatting only a parser re-opens: <table><i a1><td></i></table>x", ".html", lambda p, full: write_text(
        p, page("".join(f"<table><i a{k}><td></i></table>x" for k in range(100_000)))), f"took longer than {MARKUP_SECONDS} s",
        full_only=True),
    Attack("XML nested 1,000,000 deep", ".xml", lambda p, full: write_text(
        p, WXR_HEAD + "<item>" + "<x>" * (1_000_000 if full else 200) + "</x>" * (1_000_000 if full else 200)
        + "</item>" + WXR_TAIL), "XML nests more than 100 elements deep"),
    Attack("a 17 MiB JSON line", ".jsonl", lambda p, full: write_text(
        p, '{"id": "long", "title": "' + "x" * (17 * 2**20) + '"}\n'), "line is longer than 16 MiB"),
    Attack("1,100,000 JSON arrays in a line", ".jsonl", lambda p, full: write_text(
        p, '{"id": "deep", "title": "t", "x": [' + "[]," * 1_100_000 + "[]]}\n"),
        "holds more than 1,000,000 JSON objects and arrays"),
    Attack("a CSV quote never closed, 17 MiB", ".csv", lambda p, full: write_text(
        p, 'id,title\nok,Fine\nbad,"' + "x\n" * (17 * 2**19)), "row is longer than 16 MiB"),
    Attack("a 17 MiB WordPress item", ".xml", lambda p, full: write_text(
        p, WXR_HEAD + POST.replace("<p>Text.</p>", "<p>" + "x" * (17 * 2**20) + "</p>") + WXR_TAIL),
        "item 1 is larger than 16 MiB"),
    Attack("1.5 million skipped WordPress items", ".xml", lambda p, full: write_text(
        p, WXR_HEAD + POST + ATTACHMENT * (1_500_000 if full else 150_000) + WXR_TAIL), "", skipped=1_500_000),
)


# Measuring -----------------------------------------------------------------------------------

def build(path: Path, workdir: Path) -> dict:
    """Index one file as `kindred index` does: what it was refused for, what it skipped."""
    from indexer.build import BuildError, Indexer
    from indexer.sources import Rejected
    from tests.reliability.harness import reliability_settings

    first: list[str] = []  # the first three rejections, and the last
    last: list[str] = []

    def note(item: object) -> None:
        if not isinstance(item, Rejected):
            return
        if len(first) < 3:
            first.append(item.message[:300])
        else:
            last[:] = [item.message[:300]]

    try:
        report = Indexer(reliability_settings(workdir)).build([path], on_item=note)
    except BuildError as exc:
        return {"messages": first + last + [str(exc)[:300]], "skipped": 0}
    return {"messages": first + last, "skipped": report.skipped_count}


def measure(attack: Attack, path: Path, workdir: Path) -> Outcome:
    """Build `path` in a forked process with capped memory and time; its time and peak RSS."""
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        with open(f"/proc/{os.getpid()}/statm") as statm:
            in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (in_use + ADDRESS_SPACE_MARGIN, resource.RLIM_INFINITY))
        signal.alarm(TIME_CAP_S)
        try:
            result = build(path, workdir)
        except BaseException as exc:  # noqa: BLE001 - reported, the check fails
            result = {"messages": [f"{type(exc).__name__}: {exc}"[:300]], "skipped": 0}
        with os.fdopen(write_end, "w") as out:
            json.dump(result, out)
        default_worker.close()  # waited for, so that its peak RSS counts in this process's
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reply:
        text = reply.read()
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    result = json.loads(text) if text else {"messages": [f"killed (wait status {status})"], "skipped": 0}
    outcome = Outcome(attack.name, round(path.stat().st_size / 1e6, 1), round(seconds, 2),
                      round(usage.ru_maxrss / 1024, 1), result["messages"], result["skipped"], True)
    if attack.expected and not any(attack.expected in m for m in outcome.messages):
        outcome.passed, outcome.problem = False, f"expected {attack.expected!r}, got {outcome.messages}"
    elif attack.skipped and outcome.skipped < attack.skipped // 10:
        outcome.passed, outcome.problem = False, f"{outcome.skipped} items skipped"
    elif outcome.peak_mb > PEAK_LIMIT_MB:
        outcome.passed, outcome.problem = False, f"peak RSS {outcome.peak_mb} MB over {PEAK_LIMIT_MB} MB"
    return outcome


def run(scale: str = "full") -> HostileResult:
    """Write each hostile file, measure it, remove it."""
    import indexer.build  # noqa: F401 - imported once, before forking, so start-up is not measured

    result = HostileResult(scale)
    with tempfile.TemporaryDirectory(prefix="kindred-hostile-") as tmp:
        for number, attack in enumerate(a for a in ATTACKS if scale == "full" or not a.full_only):
            path = Path(tmp) / f"attack-{number}{attack.suffix}"
            attack.write(path, scale == "full")
            outcome = measure(attack, path, Path(tmp) / f"work-{number}")
            path.unlink()
            print(f"{outcome.name:<72} {outcome.size_mb:>7} MB {outcome.seconds:>7.2f} s {outcome.peak_mb:>7.1f} MB  "
                  f"{'ok' if outcome.passed else 'FAILED'}: {(outcome.messages or ['skipped ' + str(outcome.skipped)])[0][:90]}",
                  flush=True)
            result.outcomes.append(outcome)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("full", "small"), default="full")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = run(args.scale)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"scale": result.scale, "passed": result.passed,
                                        "outcomes": [o.__dict__ for o in result.outcomes]}, indent=1))
    print("\n".join([f"{sum(o.passed for o in result.outcomes)}/{len(result.outcomes)} hostile files refused "
                     f"within {PEAK_LIMIT_MB} MB", *(f"  PROBLEM: {p}" for p in result.problems)]))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
