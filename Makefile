# The one command surface: README and CI call these targets.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')

.PHONY: install run test lint format mypy protos protoset bench readme lock clean

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

## run the whole stack: embedded PostgreSQL + Valkey (unless URLs are set) and all four services
run: install
	$(BIN)/configtrail up

## install, lint, and run the whole test suite
test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## regenerate the protobuf and gRPC modules (and .pyi stubs) from protos/
protos: install
	$(BIN)/python tools/generate_protos.py

## a protoset for ghz and grpcurl (loadtest/configtrail.protoset)
protoset: install
	$(BIN)/python -m grpc_tools.protoc -Iprotos --include_imports \
		--descriptor_set_out=loadtest/configtrail.protoset $(PROTOS)

## run the benchmarks, write bench/report.md and bench/report.json, and copy the summary into the README
bench: install protoset
	$(BIN)/python -m bench
	$(BIN)/python tools/bench_summary.py

## re-resolve the newest versions pyproject.toml allows into constraints.txt (then run make test)
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	{ grep '^#' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

## rewrite the README's configuration table (from the settings) and benchmark summary (from bench/report.md)
readme: install
	$(BIN)/python tools/settings_table.py
	$(BIN)/python tools/bench_summary.py
