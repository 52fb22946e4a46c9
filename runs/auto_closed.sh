#!/usr/bin/env bash
# #21, the suffix at an auto-closed bracket: quality of leaving the auto-closed characters right of the cursor
# out of the suffix (`--suffix-skips-auto-closed`, so that typing `(` or `)` does not evaluate the suffix
# again) against keeping them in it, on the same tasks, the cursor after the reference line's first opening
# bracket with the closers an editor inserts right of it (`--cursor auto-closed`). EM, ES and pass@1 score the
# line as the editor shows it after the completion (its range covers the closers it types again).
# Usage: runs/auto_closed.sh ARM [FLAGS...]   ARM: kept | skipped | compare. FLAGS go to `nanocomplete eval`
#        (e.g. --threads 1). Run `kept` and `skipped` side by side, one thread each, then `compare`.
set -uo pipefail
nc=.venv/bin/nanocomplete
arm=$1; shift
served=(--model nanocomplete-0.5b --current-line-after-middle --heal-trailing-whitespace --max-middle-tokens 64
        --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024 --cursor auto-closed)
case $arm in
  kept) flags=() ;;
  skipped) flags=(--suffix-skips-auto-closed) ;;
  compare)
    for task in he-py-400 he-js-200; do
      for metric in em es pass; do
        $nc compare out/eval/auto-closed-$task--kept out/eval/auto-closed-$task--skipped --metric $metric
      done
    done
    exit 0 ;;
  *) echo "usage: runs/auto_closed.sh kept|skipped|compare [FLAGS...]" >&2; exit 2 ;;
esac
$nc eval humaneval-fim-single --limit 400 "${served[@]}" "${flags[@]}" --out out/eval/auto-closed-he-py-400--$arm "$@"
$nc eval humaneval-x-js-fim-single --limit 200 "${served[@]}" "${flags[@]}" --out out/eval/auto-closed-he-js-200--$arm "$@"
