# ae — common tasks. Every target sets itself up from the lock file on a fresh machine.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo

.PHONY: setup compile test test-slow lint fmt demo bench bench-public clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode compiled up front: `ae run` starts Python processes often, and without cached .pyc
# (e.g. PYTHONDONTWRITEBYTECODE=1) each one recompiles dbt, langgraph and ae (~3 s of a one-shot run).
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

compile: $(VENV)/.synced
	@$(BIN)/python -m compileall -q agent graph tools evals prompts

setup: $(VENV)/.synced compile  ## create .venv from uv.lock (dev tools included)

# Two workers (pytest-xdist), each test module on one of them so its module fixtures are built once:
# most tests wait on a dbt child process, so one pytest process left a core idle.
TEST_WORKERS ?= 2

test: setup  ## the test suite without the slow end-to-end tests (Postgres tests run when it answers)
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile

test-slow: setup  ## only the slow end-to-end tests (demo, benchmark, every /command on a real-shaped project)
	$(BIN)/pytest -m slow -n $(TEST_WORKERS) --dist loadfile

lint: setup  ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: setup  ## build the bundled example end to end with no API key
	$(BIN)/ae demo --dir $(DEMO_DIR) --force

bench: setup  ## engine vs dbt CLI, ae's startup, queue throughput, MCP round trips
	$(BIN)/python -m evals.bench_engine
	$(BIN)/python -m evals.bench_startup
	$(BIN)/python -m evals.bench_queue
	$(BIN)/python -m evals.bench_mcp

bench-public: setup  ## core suite -> ADE-bench and Spider2-DBT formats -> adapters: oracle 1.0, noop 0.0
	$(BIN)/python -m evals.public_round_trip

clean:  ## remove generated files (not the venv)
	rm -rf $(DEMO_DIR) bench-out eval-out .pytest_cache .mypy_cache .ruff_cache
