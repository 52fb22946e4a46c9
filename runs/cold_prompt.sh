#!/usr/bin/env bash
# #21 item 2, the bounded (cold) prompt: what answering from `cold_prompt_tokens` costs in quality. The
# server answers a request whose full prompt would evaluate more than cold_prompt_tokens from a prompt
# bounded to it (config.SERVING_PROMPT; `prompt.cold_config`), until the full prompt has warmed. Its worst
# case has no other files (none cached yet): the budgets below are cold_config's for 512 tokens with no
# context. Paired against the full serving prompt on the same cross-file next-line examples.
# Usage: [LANGUAGES="python typescript"] runs/cold_prompt.sh LIMIT [FLAGS...]   (FLAGS go to every
# `nanocomplete eval`, e.g. --threads 1; one language per process runs them side by side)
set -uo pipefail
nc=.venv/bin/nanocomplete
limit=$1; shift
FLAGS=("$@")
served=(--model nanocomplete-0.5b --current-line-after-middle --heal-trailing-whitespace
        --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024)
cold=(--model nanocomplete-0.5b --current-line-after-middle --heal-trailing-whitespace
      --max-prefix-tokens 344 --max-suffix-tokens 128 --max-context-tokens 0)

run() {  # run OUT_NAME TASK ARGS...
  local out=out/eval/$1; shift
  $nc eval "$@" --out "$out" "${FLAGS[@]}" || echo "FAILED: $out"
}
for lang in ${LANGUAGES:-python typescript}; do
  run xf-$lang-$limit--served crossfile-$lang-retrieved --limit "$limit" "${served[@]}"
  run xf-$lang-$limit--cold512 crossfile-$lang-retrieved --limit "$limit" "${cold[@]}"
  for metric in em es; do $nc compare out/eval/xf-$lang-$limit--served out/eval/xf-$lang-$limit--cold512 --metric $metric; done
done
