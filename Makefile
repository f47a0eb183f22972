# Targets a newcomer can guess. `make demo` and `make test` are all you need.
PY := .venv/bin/python
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")

.PHONY: install services test lint demo bench chaos contracts db-upgrade serve clean sandbox-images

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv sync --frozen
	@touch $@

services:
	@bash deploy/dev/ensure-services.sh

sandbox-images:
	@bash deploy/dev/ensure-docker.sh

test: install services sandbox-images
	$(PY) -m pytest

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy services shared contracts
	.venv/bin/lint-imports

demo: install services sandbox-images
	$(PY) -m deploy.demo.demo

# Every fault scenario with 120 submissions each (make test runs a subset with 30);
# prints the table. CHAOS_SUBMISSIONS=N to change the count.
chaos: install services sandbox-images
	CHAOS_SCENARIOS=all CHAOS_SUBMISSIONS=$${CHAOS_SUBMISSIONS:-120} $(PY) -m pytest tests/chaos -p no:randomly -s

bench: install services sandbox-images
	$(PY) -m deploy.bench.bench
	$(PY) -m deploy.bench.sandbox_bench
	$(PY) -m deploy.bench.runner_bench

contracts: install
	$(PY) -m services.contract_docs

db-upgrade: install services
	.venv/bin/autograder db upgrade

serve: install services  # development: runs without a webhook secret
	AUTOGRADER_ENV=$${AUTOGRADER_ENV:-development} .venv/bin/autograder serve all

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
