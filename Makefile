# Two entry points (see README): `make run` and `make test`. Both set up what they need, idempotently:
# a virtual environment, llama-cpp-python built once for this CPU and cached as a wheel
# (scripts/install_llama_cpp.sh), this package, and the default model (pulled once, verified, cached).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# Until the completion server exists, the main job completes a real file at a cursor position.
FILE ?= examples/inventory.py
LINE ?= 33
COL ?= 34

.PHONY: setup run test lint bench clean

setup: $(INSTALLED)
	@scripts/install_llama_cpp.sh $(PY)
	@$(BIN)/nanocomplete pull

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml scripts/install_llama_cpp.sh | $(PY)
	scripts/install_llama_cpp.sh $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/nanocomplete complete $(FILE) --line $(LINE) --col $(COL)

test: setup lint
	$(PY) -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check nanocomplete tests
	$(BIN)/ruff format --check nanocomplete tests

bench: setup
	$(BIN)/nanocomplete bench engine

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
