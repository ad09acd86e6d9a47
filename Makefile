# Two entry points that work on a fresh machine with Python 3.11 and pip.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@ $(STAMP)

demo: $(STAMP)
	@for t in pendulum double_pendulum planar_quadrotor hopper_stand; do \
		$(BIN)/mollify evaluate --task $$t --episodes 8 --sigma 0.1 || exit $$?; \
	done
	@echo "Report: the tables above (the HTML report arrives with 'mollify reproduce')."

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/mollify bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
