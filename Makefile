# `make demo`: a full rehearsal on the embedded default against the built-in RunPod emulator.
# `make test`: lint, types and the whole test suite. Both set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
DEMO_STACK ?= flash-4xh200

.PHONY: venv tools system-deps lint test demo bench clean kube-up kube-down

# A pulumi already on PATH (yours) is kept; otherwise the one `make tools` built.
PULUMI_ENV := $(if $(shell command -v pulumi),V4INFRA_USE_SYSTEM_PULUMI=1 ,). tools/pulumi-env.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

system-deps:
	@scripts/system-deps.sh

# The Pulumi CLI, built once per machine from Go modules (tools/README.md); an existing `pulumi` is used as is.
# Then the Kubernetes tools (kube-apiserver & co., kwok, the pulumi-kubernetes provider plugin), cached per
# version: the first build takes about half an hour on 2 cores, later ones reuse the cache in seconds.
tools:
	@if command -v pulumi >/dev/null 2>&1; then echo "using $$(command -v pulumi)"; else bash tools/build-pulumi.sh; fi
	@$(PULUMI_ENV) && bash tools/build-kube.sh

lint: venv
	$(BIN)/ruff check infra tests benchmarks policy __main__.py
	$(BIN)/ruff format --check infra tests benchmarks policy __main__.py
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv system-deps tools lint
	$(PULUMI_ENV) && $(BIN)/pytest -q -p no:cacheprovider

demo: venv tools
	$(BIN)/v4infra stacks
	$(PULUMI_ENV) && $(BIN)/v4infra validate $(DEMO_STACK) --rehearse

# A local control plane with fake GPU nodes for trying things by hand (tools/kube-local.sh).
kube-up: venv tools
	tools/kube-local.sh start .kube-local
kube-down:
	tools/kube-local.sh stop .kube-local

bench: venv
	$(BIN)/python benchmarks/bench_planner.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_gpu_seconds.py

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
