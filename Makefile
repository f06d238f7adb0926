# The two commands a newcomer needs: `make serve` and `make test`.
# CI (.ci/run) calls `make test` exactly as a person does.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install whenever the project's metadata or the pinned versions change.
STAMP  := $(VENV)/.installed
# The accessibility tests' axe-core (npm), installed by `make browser`.
AXE    := tests/browser/node_modules/axe-core/axe.min.js

# Importing nbconvert (mkdocs-jupyter does, in every build) makes an instance of
# each of its exporters to list the enabled ones for `jupyter nbconvert --help`:
# 0.5 s of every build, for a list nothing here reads. Exported to every
# recipe, so `make docs`, `make serve` and the tests' build all skip it.
export NBCONVERT_DISABLE_CONFIG_EXPORTERS := 1

.PHONY: help venv browser test test-fast docs serve clean

help:
	@echo "make serve  - set up .venv, build the site and serve it on http://127.0.0.1:8000"
	@echo "make test   - set up .venv and run the whole test suite (strict docs build included)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The browser tests drive Debian's Chromium. Installed here when we are root on
# Debian (as in CI); otherwise the tests fail with the command to run.
browser: $(AXE)
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# axe-core, pinned by tests/browser/package-lock.json, for the accessibility
# tests (npm from Debian's nodejs/npm when missing and root).
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's npm for the accessibility tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	fi
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	touch $@

test: $(STAMP) browser
	$(BIN)/python -m pytest

# The library tests alone, without the site build (quick local loop).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# The site, into site/. Fails when celoss and PyTorch disagree (hooks/parity_gate.py)
# or a notebook cell raises. NO_MKDOCS_2_WARNING only silences a banner.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Build, then serve on http://127.0.0.1:8000 with live reload; mkdocs.yml's
# `watch` adds src/ and hooks/ to docs/, so editing the library rebuilds and
# re-checks it against torch.
serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

clean:
	rm -rf $(VENV) site .cache
