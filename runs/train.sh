#!/usr/bin/env bash
# nanocomplete-0.5b v1 (released until 2026-12-04; the GPU run's adapter replaced it), end to end at the
# CPU scale it was trained at (2 cores: data ~3 min, training ~75 min, export seconds). Every step is
# deterministic (seed 0) and resumable: rerun after an interruption and it goes on. On a CUDA machine the
# same trainer command runs on the GPU.
# Usage: runs/train.sh            (then runs/baselines.sh evaluates it next to the base models)
set -euo pipefail
py=.venv/bin/python
data=${DATA:-$HOME/.cache/nanocomplete/train/data-v1-cpu}
out=${OUT:-out/train/nc05-v1}

# 3,000 examples from the six TRAIN packages: the server's prompt code, budgets cut to 512/128/384 tokens
# so that an example costs ~7 s of CPU training; half the examples in the standard layout
$py -m nanocomplete.train.data build --out "$data" --examples 3000 \
  --max-prefix-tokens 512 --max-suffix-tokens 128 --max-context-tokens 384
# LoRA rank 16 on every projection; the first 640 examples, 8 per step (80 steps)
$py -m nanocomplete.train.trainer --data "$data" --out "$out" --resume \
  --max-examples 640 --batch-examples 8 --learning-rate 3e-4 --threads 2 --checkpoint-steps 10
# the GGUF adapter (v1's, SHA-256 9804859a…), checked against PEFT on 8 examples; the registry ships the GPU
# run's (docs/training.md): copy this one over nanocomplete/adapters/ only with the registry's hash changed too
$py -m nanocomplete.train.export "$out/adapter" "$out/adapter.gguf" \
  --check "$data" --check-examples 8
