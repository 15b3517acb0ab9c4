# btsplan — the two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The checkout is the data's home (BTSPLAN_HOME), so the CLI finds this database from any folder.
export BTSPLAN_DATABASE_URL ?= sqlite:///$(CURDIR)/data/btsplan.sqlite

.PHONY: run test venv sysdeps db demo bench fuzz clean

# Runtime packages at the versions of deploy/requirements.lock (the closure the suite tested and production
# installs), so a release on PyPI the day of a run cannot change what is tested.
$(STAMP): pyproject.toml deploy/requirements.lock
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c deploy/requirements.lock -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## System packages: SpatiaLite (and GDAL's command-line tools); installed when run as root.
sysdeps:
	@bash scripts/sysdeps.sh

db: venv sysdeps
	$(BIN)/btsplan db upgrade
	$(BIN)/btsplan demo --seed 1
	$(BIN)/btsplan classify >/dev/null
	$(BIN)/btsplan check all --format json --out /dev/null

run: db
	$(BIN)/btsplan serve --host $(HOST) --port $(PORT)

test: venv sysdeps
	WITH_BROWSER=1 bash scripts/sysdeps.sh
	bash scripts/test.sh

bench: venv sysdeps
	bash scripts/bench.sh

fuzz: venv sysdeps
	BTSPLAN_FUZZ_EXAMPLES=300 bash scripts/test.sh tests/reliability/test_fuzz.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis data/*.sqlite*
