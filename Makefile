# AllianceLedger: `make demo` runs the main job, `make test` runs the whole suite.
# Both set up everything they need first (venv, npm packages, Debian packages).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make-stamps

.PHONY: all setup web demo test lint typecheck unit clean
all: test

$(STAMPS)/python: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# `npm ci` refuses this lockfile: it lists platform-only optional packages the registry
# here does not serve. `npm install` honours the lockfile and skips them.
$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMPS)/apt: scripts/apt-packages.txt scripts/setup_system.sh
	@mkdir -p $(STAMPS)
	bash scripts/setup_system.sh scripts/apt-packages.txt
	@touch $@

# The wallet and console bundles (esbuild, ethers v6 from node_modules: no CDN).
$(STAMPS)/web: $(STAMPS)/npm scripts/build_web.mjs $(wildcard sharing_api/web/apps/*/*)
	@mkdir -p $(STAMPS)
	node scripts/build_web.mjs
	@touch $@

setup: $(STAMPS)/python $(STAMPS)/npm $(STAMPS)/apt $(STAMPS)/web

web: $(STAMPS)/web

demo: setup
	$(BIN)/alliance demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -m "not integration"

test: setup lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(STAMPS) $(VENV) node_modules sharing_api/web/dist
