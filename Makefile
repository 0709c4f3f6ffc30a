# debtcases — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-unit lint fmt typecheck bench install clean services-start services-stop

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## run: install and serve the embedded default (SQLite, no Kafka) with demo data on 127.0.0.1:8000
run: $(STAMP)
	$(BIN)/debtcases serve --host $(HOST) --port $(PORT) --demo --diagonal-sim

## test: install, start PostgreSQL + Kafka (throwaway), run every test tier, stop them
test: $(STAMP)
	bash scripts/test.sh $(PYTEST_ARGS)

## test-unit: the fast tier only (no services)
test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	cd src && ../$(BIN)/lint-imports ../pyproject.toml

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src bench

## bench: command throughput, views, Kafka (not part of `make test`)
bench: $(STAMP)
	bash scripts/bench.sh

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
