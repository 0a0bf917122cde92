# The two commands of the README: `make run` (the product on the sample corpus) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= $(CURDIR)/.kb-data
PORT ?= 8501
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: setup tesseract oidc-provider run ingest test test-fast bench lint clean

$(BIN)/kb: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls several GB of CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/kb

setup: $(BIN)/kb tesseract oidc-provider

# Scanned PDFs are read by Tesseract (Debian packages); without it scans stay `no_text` with the remedy.
tesseract:
	@if ! command -v tesseract >/dev/null 2>&1 || ! tesseract --list-langs 2>/dev/null | grep -qx eng; then \
	  echo "installing tesseract-ocr (OCR of scans)"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null \
	    || echo "could not install tesseract-ocr: scans will stay no_text until it is installed"; \
	fi

# The OpenID Provider the sign-in tests run on 127.0.0.1 (tests/oidc/, Node.js); without npm they skip.
oidc-provider:
	@if command -v npm >/dev/null 2>&1; then \
	  test tests/oidc/node_modules/.package-lock.json -nt tests/oidc/package-lock.json \
	    || npm ci --prefix tests/oidc --no-audit --no-fund --silent \
	    || echo "npm ci failed: the OIDC sign-in tests will skip"; \
	else echo "npm not found: the OIDC sign-in tests will skip (install nodejs and npm)"; fi

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
