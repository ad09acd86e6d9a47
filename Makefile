# Two entry points that work on a fresh machine with Python 3.11 and pip.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test lint bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/mollify reproduce --quick --out runs/demo --force
	@echo "Report: $(CURDIR)/runs/demo/report.html (and report.md)"

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

# Headless Chromium for the report test (Debian's package; skipped with a notice where apt-get
# cannot install it, and the browser test then reports itself skipped).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get install -y -q chromium >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) \
		|| echo "note: could not install chromium; the report's browser test will be skipped")

# Two pytest workers (pytest-xdist): most tests wait on single-threaded XLA compilation, so two
# run side by side on a 2-core machine (measured: 950 s of pytest in one process, 643 s in two;
# later, with more tests, 732 s in two and 842 s in three).
PYTEST_WORKERS ?= 2

test: lint chromium
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

bench: $(STAMP)
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/mollify bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
