# Every target creates .venv when it is missing and is safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
GEN := scaigrid_client/_gen
# Written by tools/unasync.py from scaigrid_client/_clients.py.
SYNC_CLIENTS := scaigrid_client/sync/_clients.py
# What `buf breaking` compares against: the previous commit of main.
BREAKING_AGAINST ?= HEAD~1

.PHONY: venv generate check-generated format lint typecheck breaking test demo bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,cli,testing]'
	@touch $(STAMP)

venv: $(STAMP)

# buf runs the local plugins from .venv/bin; see buf.gen.yaml.
generate: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/buf generate
	$(PY) tools/fix_gen_imports.py proto $(GEN) scaigrid_client._gen
	$(PY) tools/unasync.py

# Regenerates from scratch (buf.gen.yaml has clean: true) and fails on any
# difference from what is committed.
check-generated: generate
	@git diff --exit-code --stat -- $(GEN) $(SYNC_CLIENTS) || { echo "generated code is stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- $(GEN) $(SYNC_CLIENTS))" || { git status --porcelain -- $(GEN) $(SYNC_CLIENTS); echo "untracked generated files: run 'make generate' and commit"; exit 1; }

PY_DIRS := scaigrid_client tests tools examples $(wildcard benchmarks)

lint: venv
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/buf lint

format: venv
	$(BIN)/ruff check --fix --quiet $(PY_DIRS)
	$(BIN)/ruff format --quiet $(PY_DIRS)

typecheck: venv
	$(BIN)/mypy

# v1 must never break; a breaking change is a new v2 package.
breaking: venv
	@if git rev-parse --verify --quiet "$(BREAKING_AGAINST)^{commit}" >/dev/null \
	    && git cat-file -e "$(BREAKING_AGAINST):buf.yaml" 2>/dev/null; then \
	  $(BIN)/buf breaking --against ".git#ref=$(BREAKING_AGAINST)"; \
	else echo "buf breaking: no earlier buf module at $(BREAKING_AGAINST), nothing to compare"; fi

test: lint typecheck check-generated breaking
	$(BIN)/pytest

demo: venv
	$(PY) examples/quickstart.py

# The benchmarks get their own environment: google-api-core, the peer they
# are compared with, is installed there only.
BENCH_VENV := benchmarks/.venv
$(BENCH_VENV)/.installed: pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[testing,otel]' 'google-api-core[grpc]>=2.20' 'opentelemetry-sdk>=1.20'
	@touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/run.py
	$(BENCH_VENV)/bin/python benchmarks/telemetry_cost.py | tee -a benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
