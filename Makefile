# rollout-operator: every target sets up what it needs (venv, cluster binaries).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
CLUSTER := tests/cluster/cluster.sh

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

.PHONY: venv
venv: $(STAMP) ## Create .venv with the operator and dev tools

.PHONY: demo
demo: $(STAMP) ## Local cluster + operator + the example Rollouts, rolled out before your eyes
	hack/demo.sh

.PHONY: demo-down
demo-down: ## Stop the demo's operator and the local cluster
	hack/demo-down.sh

.PHONY: run
run: $(STAMP) ## Run the operator against the current kube context (like `kopf run`)
	$(BIN)/rollout-operator run $(ARGS)

.PHONY: deploy
deploy: ## Install CRD, RBAC and the operator Deployment into the current context
	kubectl apply -k manifests/$(OVERLAY)

.PHONY: undeploy
undeploy: ## Remove what `make deploy` installed (Rollouts go with the CRD)
	kubectl delete -k manifests/$(OVERLAY) --ignore-not-found

.PHONY: lint
lint: $(STAMP) ## ruff (lint + format check), mypy and the pure-core import contract
	$(BIN)/ruff check operator tests benchmarks hack
	$(BIN)/ruff format --check operator tests benchmarks hack
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/mypy --strict hack/gen-rbac.py
	$(BIN)/python hack/gen-rbac.py --check

.PHONY: fmt
fmt: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix operator tests benchmarks hack
	$(BIN)/ruff format operator tests benchmarks hack

.PHONY: unit
unit: $(STAMP) ## Fast unit tests (no cluster)
	$(BIN)/pytest -q tests/unit

.PHONY: cluster-binaries
cluster-binaries: ## Build (or reuse) kube-apiserver, etcd, kwok... into the cache
	tests/cluster/build.sh

.PHONY: cluster-up
cluster-up: cluster-binaries ## Start the local kwok-based cluster (127.0.0.1 only; REAL_NODE=1: plus a real node)
	$(CLUSTER) up

.PHONY: cluster-down
cluster-down: ## Stop and delete the local cluster
	$(CLUSTER) down

.PHONY: kubeconfig
kubeconfig: ## Print the local cluster's kubeconfig path (export KUBECONFIG=$$(make -s kubeconfig))
	@$(CLUSTER) kubeconfig

.PHONY: image
image: ## Build the container image (buildah without Docker; no registry); prints its reference
	@hack/image.sh

.PHONY: deploy-local
deploy-local: cluster-binaries ## Local cluster + real node, build and import the image, install it (root)
	hack/deploy-local.sh

.PHONY: kind-up
kind-up: ## Create a kind cluster instead (needs Docker; not available on the CI machine)
	$(CLUSTER) kind-up

.PHONY: e2e
e2e: $(STAMP) cluster-binaries ## End-to-end tests on the local cluster (or E2E_KUBECONFIG)
	$(BIN)/pytest -q --durations=15 tests/e2e

.PHONY: test
test: lint unit e2e ## Everything CI runs: lint, types, unit and e2e tests

.PHONY: test-compat
test-compat: $(STAMP) ## Smoke e2e (pytest -m compat) on a 2nd cluster running the oldest supported Kubernetes (1.30)
	PYTEST=$(BIN)/pytest tests/cluster/test-compat.sh

# RELOADER_BIN=path adds a Stakater Reloader column (make bench-reloader builds one).
BENCH_ARGS := $(if $(RELOADER_BIN),--reloader $(RELOADER_BIN))

.PHONY: bench
bench: $(STAMP) cluster-binaries ## Benchmarks on a dedicated local cluster; report in benchmarks/results/
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

.PHONY: bench-quick
bench-quick: $(STAMP) cluster-binaries ## Every benchmark end to end, tiny and fast (< 3 min; CI smoke test)
	$(BIN)/python -m benchmarks.run --quick $(BENCH_ARGS)

.PHONY: bench-reloader
bench-reloader: ## Build Stakater Reloader (Go module proxy, or RELOADER_SRC=path) for RELOADER_BIN; not in make test
	benchmarks/reloader/build.sh
