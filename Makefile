# Two entry points (see README): `make run` and `make test`. Both set up what they need, idempotently:
# a virtual environment, llama-cpp-python built once for this CPU and cached as a wheel
# (scripts/install_llama_cpp.sh), this package, and the default model (pulled once, verified, cached).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch for the training pipeline: the CPU build on Linux (TORCH_INDEX= for PyPI's CUDA build). PyTorch's
# index is added only when it answers, so that machines limited to package mirrors or local wheels
# (find-links) install the same pinned build without minutes of retries.
TORCH_VERSION := 2.13.0
TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s)),https://download.pytorch.org/whl/cpu,)
TORCH_SPEC = torch==$(TORCH_VERSION)$(if $(TORCH_INDEX),+cpu,)
TORCH_INDEX_FLAGS = $(if $(TORCH_INDEX),$(shell $(PY) -c "import urllib.request as u; u.urlopen('$(TORCH_INDEX)/', timeout=5)" 2>/dev/null && echo --extra-index-url $(TORCH_INDEX)),)
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# The main job: the completion server on 127.0.0.1:8012 with the default model (SERVE_FLAGS for more,
# e.g. `make run SERVE_FLAGS="--port 9000"`).
SERVE_FLAGS ?=

.PHONY: setup run test lint bench clean vscode e2e llama-server

setup: $(INSTALLED)
	@scripts/install_llama_cpp.sh $(PY)
	@$(BIN)/nanocomplete pull
	@$(BIN)/nanocomplete register > /dev/null  # Dash finds the server through it (no setting, no PATH)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml scripts/install_llama_cpp.sh scripts/llama_cpp_flags.sh | $(PY)
	scripts/install_llama_cpp.sh $(PY)
	$(PY) -m pip install --quiet '$(TORCH_SPEC)' $(TORCH_INDEX_FLAGS)
	$(PY) -m pip install --quiet -e '.[dev,train]'
	touch $@

run: setup
	$(BIN)/nanocomplete serve $(SERVE_FLAGS)

# The README's test command: lint, the Python suite (real models, real server on loopback), then the VS Code
# extension's unit tests and its end-to-end test in a real VS Code (code-server + headless Chromium).
test: setup lint
	@$(BIN)/nanocomplete pull qwen2.5-coder-1.5b-instruct > /dev/null  # the quality tier's model (tests/test_tiers_real.py)
	@scripts/build_llama_server.sh $(PY) $(JOBS) > /dev/null  # the replay's peer arm (tests/test_replay.py); built once, cached
	$(PY) -m pytest
	scripts/e2e.sh

vscode:  # the VS Code extension only: build, lint, unit tests, editors/vscode/dash-0.1.0.vsix
	scripts/e2e.sh --unit

e2e: setup  # the extension in code-server + headless Chromium against the real server and model
	scripts/e2e.sh

lint: $(INSTALLED)
	$(BIN)/ruff check nanocomplete tests runs
	$(BIN)/ruff format --check nanocomplete tests runs

# llama.cpp's own llama-server, from the llama.cpp our llama-cpp-python vendors, built once with the wheel's
# CPU flags and cached; prints the binary's path (scripts/build_llama_server.sh; JOBS= to limit the build).
JOBS ?=
llama-server: | $(PY)
	@scripts/build_llama_server.sh $(PY) $(JOBS)

bench: setup
	$(BIN)/nanocomplete bench engine

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
