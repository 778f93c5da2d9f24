# The commands of the README: `make demo` (the main job), `make serve` (the DynamoDB endpoint),
# `make test` (the suite) and `make bench` (the benchmarks and their PNG plots, bench extra).
# All create or reuse .venv and reinstall only when pyproject.toml changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
RESULTS := bench/results

.PHONY: demo serve test lint format bench sim check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/python -m raydynamo.demo

serve: $(STAMP)
	$(BIN)/raydynamo serve

lint: $(STAMP)
	$(BIN)/ruff check raydynamo tests bench examples
	$(BIN)/ruff format --check raydynamo tests bench examples

format: $(STAMP)
	$(BIN)/ruff check --fix raydynamo tests bench examples
	$(BIN)/ruff format raydynamo tests bench examples

test: lint
	$(BIN)/python -m pytest -q --durations=15

# every benchmark's JSON lines into $(RESULTS)/<name>.jsonl, then one PNG plot per benchmark
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --results $(RESULTS)
	$(BIN)/python -m bench.plots $(RESULTS)

sim: $(STAMP)
	$(BIN)/python -m raydynamo.sim run --seeds 2000 --replicas 3
	$(BIN)/python -m raydynamo.sim run --seeds 2000 --replicas 5
	$(BIN)/python -m raydynamo.sim nodes --seeds 2000 --jobs 2

check: $(STAMP)
	$(BIN)/python -m raydynamo.sim check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
