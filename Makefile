# Two commands do everything on a fresh machine with Python >= 3.11 and make:
#   make dev    the whole local sandbox (embedded AWS, simulator, bridge)
#   make test   install what is needed, lint, type-check and run every test

SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
# Python caches compiled modules (and pytest its rewritten tests) in __pycache__ unless
# this is set, as some shells and CI images do: then every test worker and every bridge
# process a test starts compiles every module again (7.6 s of CPU a worker at collection
# alone, measured). The container image sets it for itself; nothing here needs it.
unexport PYTHONDONTWRITEBYTECODE

# Use the machine's uv when there is one; otherwise bootstrap it into .tools/ from PyPI.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif
VENV := .venv
BIN := $(VENV)/bin

WORKERS ?= 1
TEST_WORKERS ?= 6
AWS_PORT ?= 4566
SIM_PORT ?= 8081
ADMIN_PORT ?= 8080

.PHONY: help install dev test check lint typecheck imports pytest unit fmt docs bench chaos clean synth image base-image

help:
	@echo "make dev     start the local sandbox (WORKERS=$(WORKERS), ports $(AWS_PORT)/$(SIM_PORT)/$(ADMIN_PORT))"
	@echo "make test    lint, type-check, check the layers and run every test"
	@echo "make check   the fast loop: lint, types, layers, unit tests (under a minute)"
	@echo "make fmt     format and auto-fix"
	@echo "make docs    regenerate the README settings table"
	@echo "make bench   cost harness: CPU, AWS calls, memory and latency per message"
	@echo "make chaos   resilience campaigns (kill, stop, throttle, outage, flood) with 2 and 3 workers"
	@echo "make image   build the container image whatsapp-connect-bridge:local"
	@echo "make base-image   build a local Python base from Debian packages (no Docker Hub)"
	@echo "make synth   synthesize the CDK stack into deploy/cdk.out/"

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

install: $(UV)
	$(UV) sync --locked --all-extras --all-groups --python $(PYTHON)

dev: install
	exec $(BIN)/python -m service dev --workers $(WORKERS) \
		--aws-port $(AWS_PORT) --sim-port $(SIM_PORT) --admin-port $(ADMIN_PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The layer rule of DESIGN §3 (contracts in pyproject.toml).
imports: install
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest tests/unit -q

# Every test, in parallel: each xdist worker has its own embedded AWS and simulator.
pytest: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

check: lint typecheck imports unit

# One after the other: run beside the tests, mypy only took CPU from their workers (the
# suite keeps both cores busy), and the run was no shorter.
test: lint typecheck imports pytest

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: install
	$(BIN)/python scripts/update_readme.py

# The cost harness (bench/cost): CPU, AWS requests and memory per message, against the
# goals; about 8 minutes. Writes bench/results/cost.json and latency.png (committed).
bench: install
	$(BIN)/python -m bench.cost

# Every campaign with 2, then 3 workers (about 20 minutes each); one line per campaign.
# Both worker counts run even if a campaign of the first could not; the status says so.
chaos: install
	@status=0; for workers in 2 3; do \
		$(BIN)/python -m bench.chaos --workers $$workers \
			--json bench/results/chaos-w$$workers.json || status=1; \
	done; exit $$status

image:
	./docker/image.sh

base-image:
	./docker/base-image.sh

synth: install
	$(BIN)/python deploy/app.py

clean:
	rm -rf .venv .tools .mypy_cache .ruff_cache .pytest_cache .hypothesis .sandbox deploy/cdk.out
