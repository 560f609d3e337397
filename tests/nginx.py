"""nginx run for real by the tests: in the foreground, on a free port, with its pid, logs and
temp files in a temp dir. A missing nginx fails the test that needs it (`make test`
installs it), it never skips."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.browser.servers import free_port

NGINX = "/usr/sbin/nginx"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (NGINX if os.access(NGINX, os.X_OK) else None)
    if found is None:
        pytest.fail("nginx is not installed: `make test` installs it (as root), or `sudo apt-get install nginx`")
    return found


def main_config(workdir: Path, site: Path) -> str:
    """A minimal nginx.conf: foreground, everything it writes inside `workdir`."""
    temp = {name: workdir / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    mime = Path("/etc/nginx/mime.types")
    types = f"include {mime};" if mime.is_file() else (
        "types { text/html html; text/css css; application/javascript js; application/json json; }")
    return f"""
daemon off;
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} info;
events {{ worker_connections 128; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log {workdir / "access.log"};
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""


class Nginx:
    """nginx in the foreground serving `site_config(port)`, the server block for the port it listens on."""

    def __init__(self, binary: str, workdir: Path, site_config: Callable[[int], str]):
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        site = workdir / "kindred.conf"
        site.write_text(site_config(self.port), encoding="utf-8")
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(main_config(workdir, site), encoding="utf-8")
        self.process: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.workdir), "-c", str(self.conf), "-e", str(self.workdir / "error.log"),
                *extra]

    def start(self) -> "Nginx":
        check = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"nginx -t refused the config:\n{check.stderr}"
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not listen on {self.port}:\n{self.log()}")
                time.sleep(0.05)

    def log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()
