#!/usr/bin/env bash
# Token healing of the typed line's last token (`--heal-last-token`) against healing whitespace only, the rest
# as `serve` builds prompts (config.SERVING_PROMPT, the serving budgets), HumanEval single-line (400 seeded
# tasks) at the cursors of typing mid-line: after a member access's dot (`after-dot`), inside a long word
# (`mid-word`), after the line's first word (`typed`) and after its first opening bracket (`auto-closed`).
# Usage: runs/heal_last_token.sh ARM [CURSORS...] [-- FLAGS...]   ARM: off | on | compare
#   e.g. runs/heal_last_token.sh off after-dot mid-word -- --threads 1
set -uo pipefail
nc=.venv/bin/nanocomplete
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
      for metric in em pass es; do
        a=out/eval/heal-he-400-$cursor--off b=out/eval/heal-he-400-$cursor--on
        [ -f $a/summary.json ] && [ -f $b/summary.json ] && echo "== $cursor $metric: on − off" &&
          $nc compare $a $b --metric $metric
      done
    done
    exit 0 ;;
  *) echo "usage: runs/heal_last_token.sh off|on|compare [CURSORS...] [-- FLAGS...]" >&2; exit 2 ;;
esac
for cursor in "${cursors[@]}"; do
  out=out/eval/heal-he-400-$cursor--$arm
  [ -f $out/summary.json ] && { echo "have $out"; continue; }
  $nc eval humaneval-fim-single --limit 400 --cursor $cursor "${served[@]}" "${flags[@]}" --out $out "$@"
done
