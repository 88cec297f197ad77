# The two commands a new user needs: `make dev` and `make test`. Only python3 is assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test install migrate seed serve schema lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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
# the same-data check, then the measurement. BENCH_SECONDS/BENCH_WARMUP/BENCH_ROUNDS shorten it.
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
	rm -rf $(VENV) conduit.db conduit.db-wal conduit.db-shm .pytest_cache .mypy_cache .ruff_cache
