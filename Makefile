# `make demo`: a full rehearsal of DEMO_STACK against the built-in RunPod emulator; builds only the Pulumi CLI
# (and the Kubernetes tools when DEMO_STACK is a k8s-* stack). `make demo-k8s`: the Kubernetes preset's
# rehearsal. `make test`: lint, types and the whole test suite, with every tool and engine-parser venv.
# Each sets up what it needs on a fresh machine; tools/build.sh says what it builds and how long it took.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
DEMO_STACK ?= flash-4xh200

.PHONY: venv tools pulumi-cli kube-tools engine-parsers system-deps lint test demo demo-k8s bench clean kube-up kube-down

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
pulumi-cli:
	@if command -v pulumi >/dev/null 2>&1; then echo "using $$(command -v pulumi)"; else tools/build.sh pulumi; fi

# The Kubernetes tools (kube-apiserver & co., kwok, the pulumi-kubernetes provider plugin), cached per version:
# only Kubernetes stacks and the tests need them.
kube-tools: pulumi-cli
	@$(PULUMI_ENV) && tools/build.sh kubernetes kwok provider

# One venv per engine version the emitted commands pin, with the real vllm/sglang from PyPI
# (tools/build-engine-parsers.sh): the tests judge every command with the engine's own parser.
engine-parsers: venv
	@tools/build.sh engine-parsers

tools: pulumi-cli kube-tools

lint: venv
	$(BIN)/ruff check infra tests benchmarks policy tools __main__.py
	$(BIN)/ruff format --check infra tests benchmarks policy tools __main__.py
	$(BIN)/mypy
	$(BIN)/lint-imports

# Workers: most tests wait on stand-in servers and the Pulumi engine, so three share two cores well;
# loadgroup keeps a file on one worker and every Kubernetes test on one (tests/conftest.py).
PYTEST_WORKERS ?= 3

test: venv system-deps tools engine-parsers lint
	$(PULUMI_ENV) && $(BIN)/pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup

# The demo needs the Kubernetes tools (and etcd, from system-deps) only for a Kubernetes stack.
demo: venv pulumi-cli $(if $(filter k8s-%,$(DEMO_STACK)),system-deps kube-tools)
	$(BIN)/v4infra stacks
	$(PULUMI_ENV) && $(BIN)/v4infra validate $(DEMO_STACK) --rehearse

demo-k8s:
	@$(MAKE) --no-print-directory demo DEMO_STACK=k8s-flash-4xh200

# A local control plane with fake GPU nodes for trying things by hand (tools/kube-local.sh).
kube-up: venv kube-tools
	tools/kube-local.sh start .kube-local
kube-down:
	tools/kube-local.sh stop .kube-local

bench: venv
	$(BIN)/python benchmarks/bench_planner.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_gpu_seconds.py

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
