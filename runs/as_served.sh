#!/usr/bin/env bash
# The "as served" rows of docs/results.md: the merged nanocomplete-0.5b with exactly the prompt `serve` uses
# (`eval --as-served`: config.SERVING_PROMPT, whatever it holds today; the 1,024 / 256 / 1,024 token
# budgets), paired with the same model under the CLI's layout on the same tasks. The confidence gate is
# replayed on the as-served run with `nanocomplete gate` (its row at the serving gate is the headline).
# Usage: runs/as_served.sh [FLAGS...]   (FLAGS go to every `nanocomplete eval`, e.g. --threads 2)
set -uo pipefail
nc=.venv/bin/nanocomplete
FLAGS=("$@")
served=(--model nanocomplete-0.5b --as-served --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024)
cli=(--model nanocomplete-0.5b --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024)

run() {  # run OUT_NAME TASK ARGS...
  local out=out/eval/$1; shift
  $nc eval "$@" --out "$out" "${FLAGS[@]}" || echo "FAILED: $out"
}

run he-fim-single-typed--served humaneval-fim-single --cursor typed --limit 400 "${served[@]}"
run he-fim-single-typed--cli humaneval-fim-single --cursor typed --limit 400 "${cli[@]}"
$nc compare out/eval/he-fim-single-typed--cli out/eval/he-fim-single-typed--served --metric em
$nc compare out/eval/he-fim-single-typed--cli out/eval/he-fim-single-typed--served --metric pass
$nc gate out/eval/he-fim-single-typed--served --metric em
