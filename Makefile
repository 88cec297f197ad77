# The two commands a new user needs: `make dev` and `make test`. Only python3 (>= 3.11) and make
# are assumed. Every install is the locked set in requirements.lock; `make lock` refreshes it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The lock's own tools, pinned: pip installs the lock, uv resolves it.
PIP_VERSION := 26.3
UV_VERSION := 0.13.8
# `make lock LOCK_ARGS=--upgrade` moves every pin to the newest version pyproject.toml allows;
# plain `make lock` keeps the current pins and only resolves what changed in pyproject.toml.
LOCK_ARGS ?=

.PHONY: dev test install lock migrate seed serve schema lint typecheck bench clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python >= 3.11 is needed; $(PYTHON) is $$($(PYTHON) --version)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml requirements.lock | $(VENV)/bin/python
	$(BIN)/python -m pip install pip==$(PIP_VERSION)
	$(BIN)/python -m pip install -r requirements.lock
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The whole dependency set (runtime, dev, otel), hash-pinned, for Linux, macOS and Windows.
lock: | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra otel --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" --output-file requirements.lock $(LOCK_ARGS) >/dev/null

dev: $(STAMP)
	$(BIN)/conduit migrate
	$(BIN)/conduit seed
	$(BIN)/conduit serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/conduit schema > schema.graphql

# The benchmark (method and numbers in bench/RESULTS.md): wrk, the PostGraphile peer, the data set once,
# the same-data check, then the measurement. BENCH_SECONDS/BENCH_WARMUP/BENCH_ROUNDS shorten it;
# BENCH_SERVERS=ours,postgraphile,ours-before and BENCH_OPERATIONS=feed,one narrow it (comma lists);
# BENCH_BASELINE=<git commit> also runs that commit as ours-before, before and after in one run.
BENCH_PEER := bench/peers/postgraphile

$(BENCH_PEER)/node_modules/.installed: $(BENCH_PEER)/package.json
	cd $(BENCH_PEER) && npm install --no-audit --no-fund
	touch $@

bench: $(STAMP) $(BENCH_PEER)/node_modules/.installed
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python -m bench.generate --if-needed
	$(BIN)/python -m bench.check_same_data
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) conduit.db conduit.db-wal conduit.db-shm .pytest_cache .mypy_cache .ruff_cache build *.egg-info
