#!/usr/bin/env bash
# #21 item 1, a new line without the suffix: quality of the middle that keeps the lines typed since its start
# (`--max-middle-tokens B`) against today's serving layout (the current line only), on the same tasks.
# Evaluations have no typing history, so each example gets the LONGEST middle the budget allows
# (`prompt.longest_middle_start`): the worst case of what the server shows, which shows middles from one
# line up to B tokens.
# Usage: [CROSSFILE_LIMIT=100] runs/new_line.sh BUDGET [FLAGS...]   (FLAGS go to every `nanocomplete eval`,
#        e.g. --threads 1; CROSSFILE_LIMIT=0 skips the cross-file rows, ~30 s per example on 1 AVX2 core)
set -uo pipefail
nc=.venv/bin/nanocomplete
budget=$1; shift
FLAGS=("$@")
served=(--model nanocomplete-0.5b --current-line-after-middle --heal-trailing-whitespace
        --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024)

run() {  # run OUT_NAME TASK ARGS...
  local out=out/eval/$1; shift
  $nc eval "$@" --out "$out" "${FLAGS[@]}" || echo "FAILED: $out"
}
pair() {  # pair BASELINE CANDIDATE: the paired differences, EM and pass@1 (or identifier match)
  for metric in "${@:3}"; do $nc compare "out/eval/$1" "out/eval/$2" --metric "$metric"; done
}

# HumanEval single-line, typed cursor (the baseline is runs/as_served.sh's run)
[ -f out/eval/he-fim-single-typed--served/summary.json ] ||
  run he-fim-single-typed--served humaneval-fim-single --cursor typed --limit 400 "${served[@]}"
run he-fim-single-typed--middle$budget humaneval-fim-single --cursor typed --limit 400 "${served[@]}" --max-middle-tokens "$budget"
pair he-fim-single-typed--served he-fim-single-typed--middle$budget em pass
# HumanEval single-line, cursor at the line's start (a new line)
run he-fim-single-start--served humaneval-fim-single --cursor line-start --limit 200 "${served[@]}"
run he-fim-single-start--middle$budget humaneval-fim-single --cursor line-start --limit 200 "${served[@]}" --max-middle-tokens "$budget"
pair he-fim-single-start--served he-fim-single-start--middle$budget em pass
# cross-file next line with the context engine, Python and TypeScript
limit=${CROSSFILE_LIMIT:-100}
[ "$limit" -gt 0 ] || exit 0
for lang in python typescript; do
  run xf-$lang-$limit--served crossfile-$lang-retrieved --limit "$limit" "${served[@]}"
  run xf-$lang-$limit--middle$budget crossfile-$lang-retrieved --limit "$limit" "${served[@]}" --max-middle-tokens "$budget"
  pair xf-$lang-$limit--served xf-$lang-$limit--middle$budget em es
done
