# Kindred: `make run` serves the sample site, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
# `make run ENGINE=tantivy` picks the engine for this run; without it kindred.toml decides
# (the default is whoosh).
ifdef ENGINE
export KINDRED_ENGINE := $(ENGINE)
endif
# Debian packages the tests use, each named like its command: Chromium for the browser tests,
# nginx for the deployment and shared-cache checks, wrk for the load checks and benchmarks.
SYSTEM_PACKAGES := chromium nginx wrk

.PHONY: install index run test test-fast system-deps docs screenshots soak crash fuzz slow-clients hostile \
	reliability bench bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,tantivy]'
	touch $@

install: $(VENV)/.installed

index: install
	$(BIN)/kindred index data/sample

run: index
	@echo "Serving the sample site on http://127.0.0.1:$(PORT)"
	$(BIN)/kindred serve --host 127.0.0.1 --port $(PORT)

# Installs the missing ones with apt-get when run as root, else says what to install; a
# missing one fails its tests, never skips them.
system-deps:
	@PATH="$$PATH:/usr/sbin:/sbin"; missing=""; \
	for package in $(SYSTEM_PACKAGES); do command -v $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing$$missing (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null; \
	  else \
	    echo "The tests need$$missing: sudo apt-get install$$missing (or run make as root)"; exit 1; \
	  fi; \
	fi

test: install system-deps
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not browser"

# Reliability checks too long for every test run (docs/reliability.md). Each prints its
# figures and writes them as JSON under $(RELIABILITY_OUT); `make test` runs small versions.
RELIABILITY_OUT ?= var/reliability

# 200 connections that never finish their headers, held for 30 s, while /healthz must answer.
slow-clients: install
	$(BIN)/python -m tests.reliability.slow_clients --out $(RELIABILITY_OUT)/slow-clients.json

# Live rebuilds under load: 3 full rebuilds and 200 admin writes while a load generator
# searches; 0 failed requests, every answer from a complete version.
soak: install
	$(BIN)/python -m tests.reliability.soak $(if $(ENGINE),--engine $(ENGINE)) --out $(RELIABILITY_OUT)/soak.json

# 20 builds SIGKILLed at random moments while `kindred serve` answers from the index.
crash: install
	$(BIN)/python -m tests.reliability.crash $(if $(ENGINE),--engine $(ENGINE)) --out $(RELIABILITY_OUT)/crash.json

# The fuzz tests with 100x the cases of `make test` (Hypothesis profile `fuzz`), and
# schemathesis with 500 generated requests per API operation.
fuzz: install
	$(BIN)/python -m pytest tests/reliability/test_fuzz_search.py tests/reliability/test_fuzz_readers.py \
	  tests/test_openapi.py --hypothesis-profile=fuzz -p no:cacheprovider -q

# Every hostile source file (gzip bombs, markup that makes parsers quadratic, huge front
# matter, oversized records) indexed at full size, each in a process of its own: each is
# refused or skipped, its seconds and peak MB printed.
hostile: install
	$(BIN)/python -m tests.reliability.hostile --out $(RELIABILITY_OUT)/hostile.json

reliability: soak crash fuzz slow-clients hostile

docs: install
	$(BIN)/kindred config --markdown > docs/configuration.md

# docs/img/*.png: the sample site served for real and photographed by Debian's Chromium.
screenshots: install system-deps
	$(BIN)/python docs/screenshots.py

# Benchmarks (bench/): `make bench` measures everything in one go (about two hours on 2 cores; the Dask scaling stage, each column twice at 300k articles, is the longest)
# and rewrites docs/benchmarks.md and docs/img/bench-*.png; `make bench-quick` is a smoke run
# that writes bench/results/quick/ only. Raw figures land in bench/results/ (git-ignored).
$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,tantivy,bench]'
	touch $@

bench: install $(VENV)/.bench-installed system-deps
	PATH="$$PATH:/usr/sbin" $(BIN)/python bench/run.py

bench-quick: install $(VENV)/.bench-installed system-deps
	PATH="$$PATH:/usr/sbin" $(BIN)/python bench/run.py --quick

clean:
	rm -rf var .pytest_cache .hypothesis
