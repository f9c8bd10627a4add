# Attaché — `make run` serves the app with demo data; `make test` runs the whole suite.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# `make test` uses the local PostgreSQL unless DATABASE_URL says otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/attache
# Extra pytest arguments for `make test`, e.g. PYTEST_ARGS="tests/api -x" (scripts/run_tests.py).
PYTEST_ARGS ?=
# pytest-xdist processes for the tests that may share the machine; 0 runs them in one process.
TEST_WORKERS ?= 2

.PHONY: run stop test install lint typecheck migrations-check check-db bench load restore-drill faults clean browser-deps

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# --include=dev: axe-core (the accessibility tests) is a development dependency, never
# served; installed even where npm is configured to omit them (production: docs/deploy.md).
node_modules/.installed: package.json package-lock.json
	npm ci --include=dev --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

## run: set everything up and serve the demo on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Serving Attaché on http://127.0.0.1:8000 (admin: http://127.0.0.1:8000/admin/)"
	$(PY) manage.py runserver 127.0.0.1:8000

## stop: stop the embedded PostgreSQL that `make run` leaves running (its data stays in var/)
stop: $(VENV)/.installed
	$(PY) scripts/stop_embedded_postgresql.py

## test: lint, types, migrations and the whole suite against PostgreSQL at DATABASE_URL
# Two pytest runs: most tests on TEST_WORKERS processes, then those marked faults, load or
# redis alone (scripts/run_tests.py; docs/decisions.md, Faster suite).
test: export DATABASE_URL := $(or $(DATABASE_URL),$(TEST_DATABASE_URL))
test: export DJANGO_ENV := test
test: export TEST_WORKERS := $(TEST_WORKERS)
test: install browser-deps check-db lint typecheck migrations-check
	$(PY) scripts/run_tests.py $(PYTEST_ARGS)

# The browser tests drive Debian's chromium through Playwright (never `playwright install`).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { echo "Installing Debian's chromium for the browser tests…"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

check-db: $(VENV)/.installed
	@$(PY) scripts/check_database.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy .

migrations-check: $(VENV)/.installed
	$(PY) manage.py makemigrations --check --dry-run

## bench: benchmarks against a 1,000,000-activity database (BENCH_DATABASE_URL); figures go to docs/performance.md
bench: install
	$(PY) -m bench $(BENCH)

## load: two minutes (LOAD_SECONDS) of mixed traffic against production gunicorn + Celery on LOAD_DATABASE_URL; fails on any 5xx, lost write or sync gap
load: install
	$(PY) -m bench.load

## restore-drill: dump a seeded database, restore it into a fresh one, compare row counts and history
restore-drill: export DATABASE_URL := $(or $(DATABASE_URL),$(TEST_DATABASE_URL))
restore-drill: install check-db
	$(PY) scripts/restore_drill.py

## faults: the fault drills, long versions: a worker SIGKILLed mid-rebuild ten times, Redis stopped while saving, PostgreSQL restarted under load
faults: export DATABASE_URL := $(or $(DATABASE_URL),$(TEST_DATABASE_URL))
faults: export DJANGO_ENV := test
faults: export FAULT_DRILLS := full
faults: install check-db
	$(PY) -m pytest -m faults -v --durations=0 -s $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache .mypy_cache .ruff_cache
