# The two commands of the README: `make run` (the product on the sample corpus) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= $(CURDIR)/.kb-data
PORT ?= 8501
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: setup run ingest test test-fast bench lint clean

$(BIN)/kb: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls several GB of CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/kb

setup: $(BIN)/kb

ingest: setup
	KB_DATA_DIR=$(DATA) $(BIN)/kb ingest corpus

run: ingest
	KB_DATA_DIR=$(DATA) $(BIN)/kb app --port $(PORT)

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not browser"

bench: setup
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check kb ingest app tests bench
	$(BIN)/ruff format --check kb ingest app tests bench

clean:
	rm -rf $(DATA)
