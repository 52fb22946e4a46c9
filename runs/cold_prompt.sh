#!/usr/bin/env bash
# #21 item 2, the bounded (cold) prompt: what answering from `cold_prompt_tokens` costs in quality. The
# server answers a request whose full prompt would evaluate more than cold_prompt_tokens from a prompt
# bounded to it (config.SERVING_PROMPT; `prompt.cold_config`), until the full prompt has warmed. Its worst
# case: none of the full prompt's other files cached yet. An evaluation with --cold-prompt-tokens answers
# every example that way: the other files selected at the full budget, then cut to `cold_context_tokens`
# (0: none; each CONTEXTS value is an arm), the prefix's share shrinking by as much. Each arm is paired
# against the full serving prompt on the same cross-file next-line examples.
# Usage: [LANGUAGES="python typescript"] [CONTEXTS="0 128 172"] runs/cold_prompt.sh LIMIT [FLAGS...]
#   (FLAGS go to every `nanocomplete eval`, e.g. --threads 1; one language per process runs them side by side)
set -uo pipefail
nc=.venv/bin/nanocomplete
limit=$1; shift
FLAGS=("$@")
served=(--model nanocomplete-0.5b --current-line-after-middle --heal-trailing-whitespace
        --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024)
contexts=(${CONTEXTS:-0 128 172})

run() {  # run OUT_NAME TASK ARGS...
  local out=out/eval/$1; shift
  $nc eval "$@" --out "$out" "${FLAGS[@]}" || echo "FAILED: $out"
}
for lang in ${LANGUAGES:-python typescript}; do
  task=crossfile-$lang-retrieved
  run xf-$lang-$limit--served $task --limit "$limit" "${served[@]}"
  for context in "${contexts[@]}"; do
    run xf-$lang-$limit--cold512-context$context $task --limit "$limit" "${served[@]}" \
      --cold-prompt-tokens 512 --cold-context-tokens "$context"
  done
  for context in "${contexts[@]}"; do
    for metric in em es; do
      $nc compare out/eval/xf-$lang-$limit--served out/eval/xf-$lang-$limit--cold512-context$context --metric $metric
    done
  done
  for context in "${contexts[@]:1}"; do  # the other files' own effect inside the bound
    for metric in em es; do
      $nc compare out/eval/xf-$lang-$limit--cold512-context0 out/eval/xf-$lang-$limit--cold512-context$context --metric $metric
    done
  done
done
