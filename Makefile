# The two commands a newcomer needs: `make demo` and `make test`. Both set up first.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
export AIRFLOW_HOME := $(CURDIR)
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg
PKGS  := gridhub canonical_model adapters resolution workflow audit identity api grpc_api device_bridge dags simulators

.PHONY: setup demo test test-fast lint bench bench-quick proto up clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/gridhub demo $(DEMO_ARGS)

test: setup
	@bash scripts/run_tests.sh $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not integration" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check $(PKGS) tests bench
	$(VENV)/bin/ruff format --check $(PKGS) tests bench
	$(VENV)/bin/mypy $(PKGS)

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: setup
	$(PY) -m bench --quick $(BENCH_ARGS)

proto: setup
	$(PY) scripts/gen_proto.py

up: setup
	$(VENV)/bin/gridhub up

clean:
	rm -rf var/* .pytest_cache .mypy_cache .ruff_cache
