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
DIST_DIR ?= dist

.PHONY: help env controlplane tools argocd-tools chainsaw kubeseal postgres argo-rollouts-crd argocd-cm lint typecheck layers crds crds-check unit check fmt test demo bench bench-smoke chaos clean dist docs image image-test

help:
	@echo "make demo         - build/start the local control plane and run the Argo CD Notifications scenario"
	@echo "make test         - everything: checks, docs, the whole suite on the real control plane, bench-smoke"
	@echo "make check        - lint, format check, mypy, layer contracts, CRD drift: no Go, no cluster"
	@echo "make unit         - the tests that need no cluster (no Go toolchain either)"
	@echo "make fmt          - ruff format + ruff check --fix"
	@echo "make crds         - regenerate deploy/crds, deploy/admission and the chart's copies from the models"
	@echo "make docs         - the mkdocs site, --strict"
	@echo "make bench        - benchmarks (bench/), results in docs/benchmarks.md"
	@echo "make chaos        - churn with every fault (bench/chaos.py) and the long fuzzing profile"
	@echo "make dist         - release wheel + sdist in dist/, twine-checked"
	@echo "make image        - container images + SBOMs (slow when cold); make image-test runs them"
	@echo "make argocd-cm    - deploy/argocd/argocd-cm-health.yaml from the Lua health checks"
	@echo "make controlplane / tools / argocd-tools / chainsaw / kubeseal - the cached Go builds the tests use"
	@echo "make clean        - remove .venv and tool caches in the repo"

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

# PostgreSQL from Debian's packages, for OpenBao's database engine (dynamic secrets, issue 14).
postgres:
	@bash hack/install-postgres.sh >/dev/null

# Argo CD's own cmp-server and the Lua/CMP test harness (hack/argocd-lua).
argocd-tools:
	@bash hack/build-argocd.sh >/dev/null

# Kyverno's Chainsaw, pinned, for the examples' end-to-end suite in tests/chainsaw/.
chainsaw:
	@bash hack/build-chainsaw.sh >/dev/null

# Argo Rollouts' Rollout CRD from its Go module (nothing built), for the rollout-restart test.
argo-rollouts-crd:
	@bash hack/argo-rollouts-crd.sh >/dev/null

# deploy/argocd/argocd-cm-health.yaml from the Lua in deploy/argocd/health/.
argocd-cm: env
	$(BIN)/python -m tests.argocd.argocd_cm

# Bitnami's real kubeseal and its key generator (hack/sealed-secrets), the sealing oracle.
kubeseal:
	@bash hack/build-kubeseal.sh >/dev/null

lint: env
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: env
	$(BIN)/mypy

layers: env
	$(BIN)/lint-imports

crds: env
	$(BIN)/secretloom crds generate deploy/crds --admission-dir deploy/admission \
		--chart-dir deploy/chart/secretloom

crds-check: env
	$(BIN)/secretloom crds check deploy/crds --admission-dir deploy/admission \
		--chart-dir deploy/chart/secretloom

unit: env
	$(BIN)/pytest -m "not cluster and not kubeseal" -q

check: lint typecheck layers crds-check

fmt: env
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: env controlplane tools argocd-tools chainsaw kubeseal postgres argo-rollouts-crd lint typecheck layers crds-check docs
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory bench-smoke

demo: env controlplane tools
	$(BIN)/secretloom demo

bench: env controlplane postgres
	$(BIN)/python -m bench

bench-smoke: env controlplane postgres
	$(BIN)/python -m bench --smoke

# The fault suite (its fast pass is in `make test`): results in bench/results/chaos.json
# and docs/benchmarks.md, non-zero exit when a key is lost, wrong, blanked or rolled back.
chaos: env controlplane
	$(BIN)/python -m bench.chaos
	HYPOTHESIS_PROFILE=long $(BIN)/pytest tests/unit/test_fuzz_sops.py tests/unit/test_fuzz_refs.py \
		-q --timeout=1800

# Release artifacts: wheel + sdist in $(DIST_DIR), checked as an index would (twine).
dist: env
	rm -f $(DIST_DIR)/secretloom-*
	$(BIN)/uv build --quiet --python $(BIN)/python --out-dir $(DIST_DIR)
	$(BIN)/twine check --strict $(DIST_DIR)/secretloom-*

# The documentation site (mkdocs.yml over docs/), strict: a broken link fails; built outside the repo.
docs: env
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(CACHE_DIR)/site

# The controller and Argo CD plugin images with their SBOMs, from Debian packages and the wheel
# (hack/image-build.sh; slow when cold). image-test runs them on the local control plane.
image: dist tools
	bash hack/image-build.sh $(DIST_DIR)

image-test: image controlplane
	SECRETLOOM_IMAGE_TEST=1 $(BIN)/pytest tests/image -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
