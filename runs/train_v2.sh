#!/usr/bin/env bash
# Training v2, item 3 (docs/training.md "The v2 CPU release"): the A/B's winning recipe (cross-entropy, LoRA r16,
# 512-token prompts) on the 18 TRAIN packages of Sources v2, at the largest scale one 2-core session allows,
# judged against the released nanocomplete-0.5b (v1) on the same tasks, paired. It replaces v1 only if it
# is better there and not worse on JavaScript.
# Usage: runs/train_v2.sh STEP
#   data     build 1,600 examples (CPU budgets 512 / 128 / 384; ~770 tokens each)
#   train    the first N examples (N=1024: 128 steps of 8, ~0.8 M tokens), bf16 autocast; resumable: rerun it
#            after an interruption, with THREADS changed if you like (a run-only setting)
#   export   the GGUF adapter, checked against PEFT, and the merged model for the evaluations
#   eval ARM    HumanEval single-line as served, 400 tasks (ARM: v1 | v2)
#   eval-js ARM HumanEval-X JavaScript single-line as served, 200 tasks
#   compare  the paired table
set -euo pipefail
py=.venv/bin/python
nc=.venv/bin/nanocomplete
threads=${THREADS:-1}
n=${N:-1024}
data=${DATA:-$HOME/.cache/nanocomplete/train/data-v2-release}
out=${OUT:-out/train/nc05-v2-$n}
base=qwen2.5-coder-0.5b-instruct

case $1 in
  data)
    $py -m nanocomplete.train.data build --out "$data" --examples 1600 \
      --max-prefix-tokens 512 --max-suffix-tokens 128 --max-context-tokens 384 ;;
  train)
    $py -m nanocomplete.train.trainer --data "$data" --out "$out" --resume --max-examples "$n" \
      --batch-examples 8 --learning-rate 3e-4 --threads "$threads" --checkpoint-steps 10 --base-model "$base" ;;
  export)
    $py -m nanocomplete.train.export "$out/adapter" "$out/adapter.gguf" --check "$data" \
      --check-examples 8 --base-model "$base" --merge-into "$out/merged.gguf" ;;
  eval|eval-js)  # the A/B's evaluations as served (out/eval/ab-{he,js}-typed--NAME)
    case $2 in
      v1) runs/train_ab.sh "$1" 0 v1 ;;
      v2) runs/train_ab.sh "$1" 0 "$out/merged.gguf" ;;
      *) echo "eval ARM: v1 | v2" >&2; exit 2 ;;
    esac ;;
  compare)
    for kind in he js; do
      for metric in em pass; do
        [ -d "out/eval/ab-$kind-typed--$(basename "$out")" ] && \
          $nc compare "out/eval/ab-$kind-typed--v1" "out/eval/ab-$kind-typed--$(basename "$out")" --metric $metric
      done
    done
    true ;;
  *) echo "usage: runs/train_v2.sh data | train | export | eval ARM | eval-js ARM | compare" >&2; exit 2 ;;
esac
