#!/usr/bin/env bash
# Token healing of the typed line's last token (`--heal-last-token`) against healing whitespace only, the rest
# as `serve` builds prompts (config.SERVING_PROMPT, the serving budgets), HumanEval single-line (400 seeded
# tasks) at the cursors of typing mid-line: after a member access's dot (`after-dot`), inside a long word
# (`mid-word`), after the line's first word (`typed`) and after its first opening bracket (`auto-closed`).
# Usage: runs/heal_last_token.sh ARM [CURSORS...] [-- FLAGS...]   ARM: off | on | compare
#   e.g. runs/heal_last_token.sh off after-dot mid-word -- --threads 1
# TASK and LIMIT choose another task, e.g. cross-file next line with the context engine (as served):
#   TASK=crossfile-typescript-retrieved LIMIT=200 runs/heal_last_token.sh on after-dot mid-word -- --threads 1
set -uo pipefail
nc=.venv/bin/nanocomplete
task=${TASK:-humaneval-fim-single}
limit=${LIMIT:-400}
name=$task-$limit; metrics=(em pass es)
case $task in
  humaneval-fim-single) name=he-$limit ;;  # the folders of the first runs
  crossfile-*) name=${task#crossfile-}-$limit; metrics=(em es) ;;
esac
arm=$1; shift
cursors=(); while [ $# -gt 0 ] && [ "$1" != -- ]; do cursors+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#cursors[@]} -eq 0 ] && cursors=(after-dot mid-word typed auto-closed)
served=(--model nanocomplete-0.5b --current-line-after-middle --heal-trailing-whitespace --max-middle-tokens 64
        --suffix-skips-auto-closed --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024)
case $arm in
  off) flags=(--no-heal-last-token) ;;
  on) flags=(--heal-last-token) ;;
  compare)
    for cursor in "${cursors[@]}"; do
      for metric in "${metrics[@]}"; do
        a=out/eval/heal-$name-$cursor--off b=out/eval/heal-$name-$cursor--on
        [ -f $a/summary.json ] && [ -f $b/summary.json ] && echo "== $cursor $metric: on − off" &&
          $nc compare $a $b --metric $metric
      done
    done
    exit 0 ;;
  *) echo "usage: runs/heal_last_token.sh off|on|compare [CURSORS...] [-- FLAGS...]" >&2; exit 2 ;;
esac
for cursor in "${cursors[@]}"; do
  out=out/eval/heal-$name-$cursor--$arm
  [ -f $out/summary.json ] && { echo "have $out"; continue; }
  $nc eval "$task" --limit "$limit" --cursor $cursor "${served[@]}" "${flags[@]}" --out $out "$@"
done
