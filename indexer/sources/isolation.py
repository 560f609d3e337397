"""The markup parsers in a worker process with a time and a memory limit.

lexbor (HTML) and markdown-it (Markdown) spend time or memory out of all proportion to some
inputs: `<p><i a1><p><i a2>...` has lexbor re-open every earlier <i> in each paragraph
(60 KB wanted gigabytes), deep nesting makes it quadratic, runs of brackets take
markdown-it minutes. `text.check_markup` refuses the shapes we know of with a clear
message; this bounds every other, whatever it is: each parse runs in a worker that may use
MARKUP_MEMORY beyond its own size and MARKUP_SECONDS, and is replaced when it dies.

The worker is this file run as a script. It loads text.py by its path, alone: importing the
package would load search.article and NLTK, seconds of start-up for a parser.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

MARKUP_SECONDS = 4  # a legitimate 16 MiB page parses in well under a second
MARKUP_MEMORY = 256 * 2**20
_TEXT_MODULE = Path(__file__).with_name("text.py")


class Worker:
    """A worker process, started on first use (a forked child starts its own) and again
    after it dies."""

    def __init__(self, seconds: int = MARKUP_SECONDS, memory: int = MARKUP_MEMORY) -> None:
        self.seconds, self.memory = seconds, memory
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        atexit.register(self.close)
        os.register_at_fork(after_in_child=self._forget)

    def call(self, function: Callable, *args: Any) -> tuple[str, Any]:
        """("ok", result), ("rejected", why) or ("failed", what went wrong)."""
        with self._lock:
            process = self._started()
            try:
                pickle.dump((function.__name__, args), process.stdin, pickle.HIGHEST_PROTOCOL)
                process.stdin.flush()
                ready, _, _ = select.select([process.stdout], [], [], self.seconds + 5)
                if ready:
                    return pickle.load(process.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                pass
            return "rejected", self._stop(process)

    def _started(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is not None:
            self._stop(self._process)  # died since its last answer
        if self._process is None:
            # -P: the script's own folder is not put first on sys.path (it holds html.py).
            self._process = subprocess.Popen(
                [sys.executable, "-P", __file__, str(_TEXT_MODULE), str(self.seconds), str(self.memory)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self._process

    def _stop(self, process: subprocess.Popen) -> str:
        """Why the worker did not answer; it is gone afterwards (the next call starts another)."""
        process.kill()
        status = process.wait()
        process.stdin.close()
        process.stdout.close()
        self._process = None
        if status == -signal.SIGALRM:
            return f"the markup took longer than {self.seconds} s to parse"
        return f"{_too_large(self.memory)} (or crashed its parser)"

    def _forget(self) -> None:
        """In a forked child: the worker is the parent's. Let go of this copy of its pipes, and
        never wait for it (Popen would warn that "its" process still runs)."""
        if self._process is not None:
            self._process.stdin.close()
            self._process.stdout.close()
            self._process.returncode = 0
            self._process = None
        self._lock = threading.Lock()

    def close(self) -> None:
        process = self._process
        if process is None:
            return
        process.stdin.close()  # the worker ends when its requests end
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        self._process = None


default_worker = Worker()  # the process's own


def isolated(function: Callable, *args: Any, worker: Worker | None = None) -> Any:
    """`function(*args)` (one of text.ISOLATED) in the markup worker (the process's own, or
    `worker`); HostileMarkup when the markup is refused, or its parse runs out of time or memory."""
    # Imported here: text.py must not import this module (the worker loads it alone).
    from indexer.sources.text import HostileMarkup

    outcome, value = (worker or default_worker).call(function, *args)
    if outcome == "rejected":
        raise HostileMarkup(value)
    if outcome == "failed":
        raise RuntimeError(value)
    return value


def _too_large(memory: int) -> str:
    return f"the markup needs more than {memory // 2**20} MiB to parse"


def _serve(text_module_path: str, seconds: int, memory: int) -> None:
    """The worker: answer (function name, args) requests on stdin until it closes."""
    import importlib.util
    import resource

    spec = importlib.util.spec_from_file_location("kindred_markup", text_module_path)
    text = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(text)
    functions = {f.__name__: getattr(text, f.__name__) for f in text.ISOLATED}
    requests, replies = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    sys.stdout = sys.stderr  # nothing else may write to the replies
    statm = Path("/proc/self/statm")  # Linux: the address space in use, in pages
    if statm.exists():
        limit = int(statm.read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE") + memory
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    while True:
        try:
            name, args = pickle.load(requests)
        except EOFError:
            return
        signal.alarm(seconds)  # SIGALRM's default action ends the worker, even inside C code
        try:
            reply = ("ok", functions[name](*args))
        except ValueError as exc:  # the markup's own problem: HostileMarkup
            reply = ("rejected", str(exc))
        except MemoryError:
            reply = ("rejected", _too_large(memory))
        except Exception as exc:  # noqa: BLE001 - reported to the reader, which rejects the file
            if type(exc).__name__ == "SelectolaxError":  # lexbor could not allocate
                reply = ("rejected", _too_large(memory))
            else:
                reply = ("failed", f"{type(exc).__name__}: {str(exc)[:200]}")
        signal.alarm(0)
        pickle.dump(reply, replies, pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
