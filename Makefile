# `make demo` and `make test` each build .venv from nothing when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test lint bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,postgres,bench]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/cartwire demo

test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Speed, measured side by side with hand-written Python and two other rule engines (docs/performance.md).
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

# The chaos test of `make test`, bigger (docs/reliability.md): `make chaos CHAOS_ORDERS=2000`;
# CARTWIRE_CHAOS_SEED=<seed> in the environment repeats a failed run's decisions.
CHAOS_ORDERS ?= 1000
CHAOS_KILLS ?= 12
chaos: $(STAMP)
	CARTWIRE_CHAOS_ORDERS=$(CHAOS_ORDERS) CARTWIRE_CHAOS_KILLS=$(CHAOS_KILLS) $(BIN)/python -m pytest -m chaos -q -s tests/core/test_chaos.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
