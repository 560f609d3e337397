"""The Makefile's setup, run for real: `make test` makes sure of every Debian package its
tests use (Chromium, nginx, wrk), installing the missing ones as root and naming them
otherwise."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def make(*args: str, as_root: bool) -> subprocess.CompletedProcess:
    command = ["make", "-s", "--no-print-directory", *args]
    if not as_root and os.geteuid() == 0:
        command = NOBODY + command
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_make_test_checks_every_package_the_tests_use():
    recipes = make("-n", "test", as_root=os.geteuid() == 0).stdout  # what it would run, not run
    assert "for package in chromium nginx wrk;" in recipes
    assert recipes.index("for package in") < recipes.index("pytest")


def test_without_root_missing_packages_are_named_and_stop_the_run():
    result = make("system-deps", "SYSTEM_PACKAGES=chromium nginx wrk kindred-missing-a kindred-missing-b",
                  as_root=False)
    assert result.returncode != 0
    assert "sudo apt-get install kindred-missing-a kindred-missing-b" in result.stdout
    assert "chromium" not in result.stdout  # installed here: not asked for


def test_nothing_to_do_when_everything_is_installed():
    result = make("system-deps", as_root=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_make_run_passes_the_engine_only_when_given():
    """docs/quickstart.md: without ENGINE, kindred.toml's engine applies."""
    def engine(*args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "KINDRED_ENGINE"}
        shown = subprocess.run(["make", "-s", "--no-print-directory", "--eval",
                                'show-engine: ; @echo "[$$KINDRED_ENGINE]"', *args, "show-engine"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        return shown.stdout.strip()

    assert engine() == "[]"
    assert engine("ENGINE=tantivy") == "[tantivy]"
    quickstart = (REPO / "docs" / "quickstart.md").read_text(encoding="utf-8")
    assert "only when you give it" in quickstart and "always passes" not in quickstart
