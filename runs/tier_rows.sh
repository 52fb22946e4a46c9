#!/usr/bin/env bash
# The quality-tier issue, item 4: the harness rows for the two tiers' models as served, paired on the same
# examples. Each model gets exactly what `serve` gives it (config.SERVING_PROMPT: the typed part of the line
# after <|fim_middle|>, healed whitespace; the 1,024 / 256 / 1,024 token budgets; the `typed` cursor on the
# HumanEval family, the line-start cursor on cross-file next line, the context engine's `retrieved` mode).
# HumanEval single-line (400 tasks) is `runs/train_ab.sh eval 64 base-1.5b` / `runs/as_served.sh`.
# Usage: [MODELS="nanocomplete-0.5b qwen2.5-coder-1.5b-instruct"] runs/tier_rows.sh ROWS [FLAGS...]
#   ROWS: js (HumanEval-X JavaScript single-line, 200) | multi (HumanEval multi-line, 200) |
#         xf-python | xf-typescript (cross-file next line with the context engine; XF_LIMIT, default 100,
#         the same examples as runs/cold_prompt.sh's `served` arm) | compare
#   FLAGS go to every `nanocomplete eval`, e.g. --threads 1 (one ROWS per process runs them side by side).
set -uo pipefail
nc=.venv/bin/nanocomplete
rows=$1; shift
FLAGS=("$@")
models=(${MODELS:-nanocomplete-0.5b qwen2.5-coder-1.5b-instruct})
xf_limit=${XF_LIMIT:-100}
served=(--current-line-after-middle --heal-trailing-whitespace
        --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024)

run() {  # run OUT_NAME TASK ARGS...
  local out=out/eval/$1; shift
  [ -f "$out/summary.json" ] && { echo "have $out"; return; }
  $nc eval "$@" --out "$out" "${FLAGS[@]}" || echo "FAILED: $out"
}
name() {  # the run directory of ROWS for MODEL (the 0.5B's cross-file runs are runs/cold_prompt.sh's)
  case $1 in
    js) echo "tier-js-typed--$2" ;;
    multi) echo "tier-multi-typed--$2" ;;
    xf-*) [ "$2" = nanocomplete-0.5b ] && echo "xf-${1#xf-}-$xf_limit--served" || echo "xf-${1#xf-}-$xf_limit--$2" ;;
  esac
}

case $rows in
  js|multi)
    task=humaneval-x-js-fim-single; [ "$rows" = multi ] && task=humaneval-fim-multi
    for model in "${models[@]}"; do
      run "$(name "$rows" "$model")" $task --model "$model" --cursor typed --limit 200 "${served[@]}"
    done ;;
  xf-python|xf-typescript)
    for model in "${models[@]}"; do
      run "$(name "$rows" "$model")" crossfile-${rows#xf-}-retrieved --model "$model" --limit "$xf_limit" \
        "${served[@]}"
    done ;;
  compare)  # the first model against each other one, every row that both have
    for rows in js multi xf-python xf-typescript; do
      first=out/eval/$(name $rows "${models[0]}")
      for model in "${models[@]:1}"; do
        other=out/eval/$(name $rows "$model")
        [ -f "$first/summary.json" ] && [ -f "$other/summary.json" ] || continue
        for metric in em pass es; do
          [ $metric = pass ] && [[ $rows = xf-* ]] && continue
          echo "== $rows $metric: $model − ${models[0]}"
          $nc compare "$first" "$other" --metric $metric
        done
      done
    done ;;
  *) echo "usage: runs/tier_rows.sh js | multi | xf-python | xf-typescript | compare [FLAGS...]" >&2; exit 2 ;;
esac
