#!/usr/bin/env bash
# #20 item 2: the serving prompt path against plain file-level PSM, with the same weights (nanocomplete-0.5b),
# on TypeScript cross-file next line with the typed cursor (the first word of the line typed). Three arms on
# the same examples, so the difference splits into the layout and the context:
#   plain   file-level PSM: no repo-level wrapper, no other files, the typed text in the prefix
#   layout  the serving layout (the typed part of the line after <|fim_middle|>, healed whitespace), no context
#   served  the serving layout, the repo-level wrapper and the context engine's files (1,024 tokens)
# The budgets are the serving ones (prefix 1,024, suffix 256). Usage: runs/serving_vs_psm.sh [LIMIT] [FLAGS...]
# FRESH=out/fresh runs the examples no earlier study saw (made by `.venv/bin/python runs/fresh_crossfile.py
# out/fresh`), into out/eval/psm-ts-fresh-LIMIT-ARM.
set -uo pipefail
nc=.venv/bin/nanocomplete
limit=${1:-60}; shift || true
common=(--model nanocomplete-0.5b --cursor typed --limit "$limit" --max-prefix-tokens 1024 --max-suffix-tokens 256 "$@")
out=out/eval/psm-ts-$limit
if [ -n "${FRESH:-}" ]; then export NANOCOMPLETE_CACHE_DIR=$FRESH; out=out/eval/psm-ts-fresh-$limit; fi
$nc eval crossfile-typescript --out "$out-plain" "${common[@]}" --max-context-tokens 0 \
  --no-current-line-after-middle --no-heal-trailing-whitespace
$nc eval crossfile-typescript --out "$out-layout" "${common[@]}" --max-context-tokens 0 \
  --current-line-after-middle --heal-trailing-whitespace
$nc eval crossfile-typescript-retrieved --out "$out-served" "${common[@]}" --max-context-tokens 1024 \
  --current-line-after-middle --heal-trailing-whitespace
for metric in em es; do
  for arm in layout served; do $nc compare "$out-plain" "$out-$arm" --metric $metric; done
done
