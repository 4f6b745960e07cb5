# GridHub — two commands on a fresh machine: `make up` and `make test`.
VENV   := .venv
BIN    := $(VENV)/bin
PYTHON ?= python3

.PHONY: up test unit lint typecheck pytest system-deps venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# PostgreSQL server binaries and CJK fonts from Debian's packages (root only).
system-deps:
	bash deploy/install-system-deps.sh

## up: the whole hub on embedded defaults (local Kafka broker, SQLite); Ctrl-C stops it.
up: venv
	$(BIN)/gridhub up

## test: lint, type-check and the full test suite (real Kafka, PostgreSQL and SQLite).
test: venv system-deps lint typecheck pytest

## unit: the fast loop while editing: tests/unit only (no broker, no PostgreSQL).
unit: venv
	$(BIN)/pytest tests/unit

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

clean:
	rm -rf .gridhub .pytest_cache .mypy_cache .ruff_cache
