# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-system test-all audit lint format docs bench clean

$(BIN)/python:
	@test -n "$(PYTHON)" || (echo "error: Python >= 3.11 is required (set PYTHON=...)" >&2; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Every dependency at the version pinned in requirements.lock (the audited set).
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet -c requirements.lock -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@ $(VENV)/.installed

## run: create .venv, install, run the main job (simulate, validate, summarise the district)
run: $(VENV)/.installed
	$(BIN)/vbsp-risk run

## test: create .venv if missing, install dev extras, lint, check the layers (import-linter) and
## run the unit and integration tiers in parallel (pytest-xdist; each module's tests on one worker,
## --dist loadscope, so its fixtures are built once; in collection order, the longest modules
## first: tests/conftest.py); `make test-all` adds the system tier
PYTEST_WORKERS ?= 2
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder -m "not system"

## test-system: the system tier only (kill -9 and crash cycles, load shedding, fuzzing, Chromium
## browser tests, notebooks, the full-district calibration); the browser tests drive Debian's
## chromium, installed here when missing and we are root
test-system: $(VENV)/.installed-dev
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: no chromium; the browser tests will be skipped (apt-get install chromium)"; }
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope -m system

## test-all: everything (make test, then the system tier)
test-all: test test-system

## audit: known vulnerabilities of the pinned dependencies (pip-audit on requirements.lock, asks
## PyPI); fails on any, or when PyPI cannot be reached; AUDIT_STRICT=1 also fails on unaudited pins.
## Not part of `make test` (it needs the network); .ci/run runs it
audit: $(VENV)/.installed-dev
	$(BIN)/python scripts/audit_deps.py --lock requirements.lock

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .

docs: $(VENV)/.installed
	$(BIN)/vbsp-risk docs

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_simulator.py

clean:
	rm -rf $(VENV) state .pytest_cache .ruff_cache
