#!/usr/bin/env bash
# The latency issue, Enter between brackets: quality of leaving the lines of closing brackets below the
# cursor out of the suffix (`--suffix-skips-auto-closed`, which also leaves out auto-closed characters right
# of the cursor) against keeping them, on the same tasks: HumanEval-X JavaScript lines that end a block (the
# next line holds only closing brackets), written on a line of their own with the first word typed, as an
# editor holds them after Enter (`--cursor own-line`). Python's HumanEval has 2 such lines of 1,033.
# Usage: runs/closing_lines.sh ARM [FLAGS...]   ARM: kept | skipped | compare. FLAGS go to `nanocomplete eval`
#        (e.g. --threads 1).
set -uo pipefail
nc=.venv/bin/nanocomplete
arm=$1; shift
served=(--model nanocomplete-0.5b --current-line-after-middle --heal-trailing-whitespace --max-middle-tokens 64
        --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024 --cursor own-line)
case $arm in
  kept) flags=(--no-suffix-skips-auto-closed) ;;
  skipped) flags=(--suffix-skips-auto-closed) ;;
  compare)
    for metric in em es pass; do
      $nc compare out/eval/closing-lines-js-200--kept out/eval/closing-lines-js-200--skipped --metric $metric
    done
    exit 0 ;;
  *) echo "usage: runs/closing_lines.sh kept|skipped|compare [FLAGS...]" >&2; exit 2 ;;
esac
$nc eval humaneval-x-js-fim-block-end --limit 200 "${served[@]}" "${flags[@]}" --out out/eval/closing-lines-js-200--$arm "$@"
