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
	$(BIN)/mollify landscape --task pendulum --dims 2 --grid 41 --sigmas 0,0.1,0.3,1 --out runs/demo/landscape
	$(BIN)/mollify theory heat --task pendulum --out runs/demo/theory
	@echo "Report: runs/demo/landscape (landscape.png, spectra.png, landscape.nc) and runs/demo/theory/heat.png"

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/mollify bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
