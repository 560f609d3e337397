# Kindred: `make run` serves the sample site, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ENGINE ?= whoosh
PORT ?= 8000
export KINDRED_ENGINE := $(ENGINE)

.PHONY: install index run test test-fast system-deps docs screenshots clean

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

# Browser tests drive Debian's Chromium; a missing browser fails the run, never skips it.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "Chromium is needed for the browser tests: sudo apt-get install chromium"; exit 1; \
	  fi; \
	fi

test: install system-deps
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not browser"

docs: install
	$(BIN)/kindred config --markdown > docs/configuration.md

# docs/img/*.png: the sample site served for real and photographed by Debian's Chromium.
screenshots: install system-deps
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf var .pytest_cache .hypothesis
