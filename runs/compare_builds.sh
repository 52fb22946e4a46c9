#!/usr/bin/env bash
# Prompt evaluation and generation speed of two llama.cpp builds on this machine, one after the other in one
# run (docs/numerics.md, README "CPU"): the project's build (.venv) and a second one, for instance a build
# for a CPU without AVX2 made on this machine:
#   python3 -m venv /tmp/venv-noavx2
#   NANOCOMPLETE_CPU_FLAGS="sse4_2 avx f16c" scripts/install_llama_cpp.sh /tmp/venv-noavx2/bin/python
#   /tmp/venv-noavx2/bin/python -m pip install -e '.[dev]'
#   runs/compare_builds.sh /tmp/venv-noavx2/bin/python
# Each bench prints the machine (CPU flags) and the build's features. Run it on an idle machine.
set -euo pipefail
other=${1:?usage: runs/compare_builds.sh OTHER_PYTHON}
for py in .venv/bin/python "$other"; do
  "$py" -m nanocomplete bench engine --model qwen2.5-coder-0.5b-instruct --prompt-tokens 128 512 --repeats 3
  echo
done
