# Every target creates .venv when it is missing and is safe to run again.
# .venv is on the newest supported Python here (pyenv's builds too), so that
# its suite is the newest end of the dependency window and tools/matrix.py's
# cell the oldest; `make PYTHON=python3.11 ...` chooses another.
ifndef PYTHON
PYTHON := $(shell python3 tools/pythons.py --newest 2>/dev/null || echo python3)
endif
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
GEN := scaigrid_client/_gen
# Written by tools/unasync.py (from the async source) and tools/gen_enums.py.
WRITTEN := scaigrid_client/sync/_clients scaigrid_client/sync/_call_loop.py \
	scaigrid_client/sync/_pager.py scaigrid_client/sync/_raw.py scaigrid_client/enums.py
# What `buf breaking` compares against: the previous commit of main.
BREAKING_AGAINST ?= HEAD~1

.PHONY: venv generate check-generated format lint typecheck typecheck-user breaking test suite matrix matrix-prepare matrix-cells demo bench clean api docs

# Python writes bytecode for every command here, even where
# PYTHONDONTWRITEBYTECODE is set (these machines): the suite starts about a
# hundred Python processes, and each would otherwise compile grpc, protobuf,
# the package and pytest's rewritten tests again. The first process to
# import a module writes its bytecode (into gitignored __pycache__/) and the
# rest read it. (Compiling all of .venv at install instead took 11 s of a
# fresh `make test`, mostly for modules no test imports.)
export PYTHONDONTWRITEBYTECODE :=

# uv installs every environment here (.venv, .gen/, .typing/, .matrix/,
# benchmarks/.venv): the same packages pip would pick, in a tenth of the time
# (a fresh `make test` spent two of its minutes in pip). It lives in .venv,
# put there by the base Python's pip (`pip --python`: a venv made with a pip
# of its own takes 6 s longer), so `make` needs nothing but Python; where
# the base Python has no pip, the venv gets one from ensurepip.
UV := $(BIN)/uv
$(UV):
	@test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(PY) install --quiet 'uv>=0.5,<1' \
	  || { $(PY) -m ensurepip --default-pip >/dev/null && $(PY) -m pip install --quiet 'uv>=0.5,<1'; }

# pip too, for whoever reaches for .venv/bin/pip.
$(STAMP): pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(PY) -e '.[dev,cli,testing]' pip
	@touch $(STAMP)

venv: $(STAMP)

# The generation environments: one per protobuf major that needs its own
# gencode, each with the exactly pinned grpcio-tools of tools/generation/.
GEN_ENVS := .gen
$(GEN_ENVS)/%/.installed: tools/generation/%.txt | $(UV)
	@test -x $(GEN_ENVS)/$*/bin/python || $(UV) venv --quiet --python $(PYTHON) $(GEN_ENVS)/$*
	$(UV) pip install --quiet --python $(GEN_ENVS)/$*/bin/python -r $<
	@touch $@

# buf runs the plugins from .gen/ and .venv/bin; see buf.gen.yaml. _gen is
# emptied first, so a file whose proto is gone does not linger.
generate: venv $(GEN_ENVS)/protobuf5/.installed $(GEN_ENVS)/protobuf6/.installed
	rm -rf $(GEN)
	$(BIN)/buf generate
	$(BIN)/buf generate --template buf.gen.protobuf6.yaml
	$(PY) tools/fix_gen_imports.py proto $(GEN) scaigrid_client._gen
	$(PY) tools/unasync.py
	$(PY) tools/gen_enums.py

# Regenerates from scratch (buf.gen.yaml has clean: true) and fails on any
# difference from what is committed.
check-generated: generate
	@git diff --exit-code --stat -- $(GEN) $(WRITTEN) || { echo "generated code is stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- $(GEN) $(WRITTEN))" || { git status --porcelain -- $(GEN) $(WRITTEN); echo "untracked generated files: run 'make generate' and commit"; exit 1; }

PY_DIRS := scaigrid_client tests tools examples docs hatch_build.py $(wildcard benchmarks)

lint: venv
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/buf lint

format: venv
	$(BIN)/ruff check --fix --quiet $(PY_DIRS)
	$(BIN)/ruff format --quiet $(PY_DIRS)

typecheck: venv
	$(BIN)/mypy

# Users' code against a plain `pip install` of this tree, in a bare venv
# (.typing/): mypy --strict and pyright must catch its deliberate typos.
typecheck-user: venv
	$(PY) tools/typing_check.py

# The public API snapshot (docs/public-api.txt): rewrite it after a change
# made on purpose; tests/package/test_api_snapshot.py fails while it differs.
api: venv
	$(PY) tools/api_snapshot.py

# The documentation site, offline, into docs/_build/html. Warnings are
# errors (-W, all of them reported: --keep-going) and every reference must
# resolve (-n). -E reads every page each time: an incremental build would
# not repeat an unchanged page's warnings. docs/_ext/scaigrid_docs.py
# writes the generated pages first (messages from proto/, the CLI's page).
SPHINXOPTS ?=
docs: venv
	$(BIN)/sphinx-build -b html -E -W --keep-going -n -q $(SPHINXOPTS) docs docs/_build/html

# v1 must never break; a breaking change is a new v2 package.
breaking: venv
	@if git rev-parse --verify --quiet "$(BREAKING_AGAINST)^{commit}" >/dev/null \
	    && git cat-file -e "$(BREAKING_AGAINST):buf.yaml" 2>/dev/null; then \
	  $(BIN)/buf breaking --against ".git#ref=$(BREAKING_AGAINST)"; \
	else echo "buf breaking: no earlier buf module at $(BREAKING_AGAINST), nothing to compare"; fi

# The suite against the built wheel at both ends of the dependency window,
# each cell in its own venv under .matrix/: the oldest grpcio and protobuf on
# the oldest Python here, the newest on the newest (tools/matrix.py).
matrix-prepare: venv
	$(PY) tools/matrix.py --prepare

# What can run at once does, and no more than the machine takes (timing
# tests flake on an oversubscribed one): .venv and the two .gen/
# environments are built together; generation comes alone (it rewrites files
# the others read); then lint, mypy (the package, and
# users' code on a plain install), buf breaking, the docs and the matrix
# cells' venvs together; then the whole suite in .venv on pytest-xdist
# workers (tests that must share a process carry an xdist_group) beside the
# two matrix cells (the suite on the built wheel without the slow tests; most
# of a test's time is spent waiting on sockets, so they share the cores
# well); last, alone, the tests marked serial.
SUB_MAKE := $(MAKE) --no-print-directory
test:
	$(SUB_MAKE) -j3 venv $(GEN_ENVS)/protobuf5/.installed $(GEN_ENVS)/protobuf6/.installed
	$(SUB_MAKE) check-generated
	$(SUB_MAKE) -j6 --output-sync=target lint typecheck typecheck-user breaking matrix-prepare docs
	$(SUB_MAKE) -j2 --output-sync=target suite matrix-cells
	$(BIN)/pytest -m serial

# The suite in .venv, on pytest-xdist workers, without the serial tests.
suite: venv
	$(BIN)/pytest -n auto --dist loadgroup -m 'not serial'

matrix-cells: venv
	$(PY) tools/matrix.py

# The wider grid: every Python here x grpcio/protobuf pairs across the window
# (without the slow tests; add --full to run them too).
matrix: venv
	$(PY) tools/matrix.py --grid

demo: venv
	$(PY) examples/quickstart.py

# The benchmarks get their own environment: google-api-core, the peer they
# are compared with, is installed there only.
BENCH_VENV := benchmarks/.venv
# Bytecode compiled at install, as pip does: row 6 times imports.
$(BENCH_VENV)/.installed: pyproject.toml | $(UV)
	@test -x $(BENCH_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(BENCH_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(BENCH_VENV)/bin/python -e '.[testing,otel]' 'google-api-core[grpc]>=2.20' 'opentelemetry-sdk>=1.20'
	@touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/run.py
	$(BENCH_VENV)/bin/python benchmarks/telemetry_cost.py | tee -a benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) $(GEN_ENVS) .matrix .typing build dist .mypy_cache .ruff_cache .pytest_cache docs/_build
