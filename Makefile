# Every install step lives here: a fresh machine needs only python3 (>= 3.11)
# and go (>= 1.24). Go builds are cached outside the repo (see hack/).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
CACHE_DIR ?= $(or $(SECRETLOOM_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/secretloom)
export SECRETLOOM_CACHE_DIR := $(CACHE_DIR)

.PHONY: help env controlplane tools lint typecheck layers crds crds-check unit test demo bench bench-smoke clean

help:
	@echo "make demo   - build/start the local control plane and run the Argo CD Notifications scenario"
	@echo "make test   - lint, type checks, layer contracts and the whole test suite on the real control plane"
	@echo "make bench  - benchmarks (bench/), results in docs/benchmarks.md"

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(BIN)/uv pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --quiet --python $(BIN)/python
	touch $@

env: $(VENV)/.synced

controlplane:
	@bash hack/build-controlplane.sh >/dev/null

tools: env
	@bash hack/install-tools.sh >/dev/null

lint: env
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: env
	$(BIN)/mypy

layers: env
	$(BIN)/lint-imports

crds: env
	$(BIN)/secretloom crds generate deploy/crds --admission-dir deploy/admission

crds-check: env
	$(BIN)/secretloom crds check deploy/crds --admission-dir deploy/admission

unit: env
	$(BIN)/pytest -m "not cluster" -q

test: env controlplane tools lint typecheck layers crds-check
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory bench-smoke

demo: env controlplane tools
	$(BIN)/secretloom demo

bench: env controlplane
	$(BIN)/python -m bench

bench-smoke: env controlplane
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
