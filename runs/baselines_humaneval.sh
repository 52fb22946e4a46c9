#!/usr/bin/env bash
# Baselines on the HumanEval family, through the product's completion path (docs/results.md).
# Usage: runs/baselines_humaneval.sh MODEL [FLAGS...]   (e.g. qwen2.5-coder-0.5b-instruct --threads 1)
# FLAGS go to every `nanocomplete eval` (engine flags such as --threads do not change the results).
# Runs land in out/eval/; each is resumable (rerun the same command after an interruption).
set -euo pipefail
model=${1:-qwen2.5-coder-0.5b-instruct}
shift || true
nc=.venv/bin/nanocomplete

$nc eval humaneval-fim-single --model "$model" "$@"
$nc eval humaneval --model "$model" "$@"
$nc eval humaneval-x-js-fim-single --model "$model" "$@" --limit 400
$nc eval humaneval-fim-multi --model "$model" "$@" --limit 200
# prompt layout A/B: the typed part of the current line before the suffix (standard) vs after <|fim_middle|>
$nc eval humaneval-fim-single --model "$model" "$@" --cursor typed
$nc eval humaneval-fim-single --model "$model" "$@" --cursor typed --current-line-after-middle
