#!/usr/bin/env bash
# Training v2, item 2 (docs/training.md "A/B at equal compute"): training recipes compared at the same
# training examples and tokens, each arm from the 0.5B-Instruct, judged on the same HumanEval single-line
# tasks as served (typed cursor, serving layout and budgets, no gate), paired.
# Usage: runs/train_ab.sh STEP [N]   N: examples per arm (default 64, 8 optimizer steps of 8)
#   data      build the examples (the 18 TRAIN packages of Sources v2, CPU budgets 512/128/384)
#   data1024  the same build with the server's budgets (1,024 / 256 / 1,024), for the p1024 arm
#   teacher   the 1.5B-Instruct's top-8 log-probs at every answer token of the first N examples
#   ARM       train one arm, export it, merge it: ce | distill | r64 | full | p1024 | p1024-b4 (equal tokens)
#             | ce-1.5b (the ce arm's recipe and examples on the 1.5B-Instruct: nanocomplete-1.5b at A/B scale)
#   eval ARM  HumanEval single-line, 400 tasks, the merged arm (ARM base: the untrained 0.5B-Instruct;
#             base-1.5b: the untrained 1.5B-Instruct; released: the registry's nanocomplete-0.5b (v1 until
#             2026-12-04); a .gguf path: that model, named after its folder)
#   eval-js ARM  the same on HumanEval-X JavaScript single-line, 200 tasks
#             LEAVE_OUT=400 (eval) takes the next, disjoint 400 tasks (out dir ab-he-typed-after-400--NAME)
#   compare   the paired table
# One llama.cpp/torch thread per step (THREADS=1): run two steps side by side on a 2-core machine.
# Every step is resumable: rerun it after an interruption.
set -euo pipefail
py=.venv/bin/python
nc=.venv/bin/nanocomplete
threads=${THREADS:-1}
data=${DATA:-$HOME/.cache/nanocomplete/train/data-ab}
data1024=${DATA_1024:-$HOME/.cache/nanocomplete/train/data-ab-1024}  # the same cursors, the server's budgets
step=$1
n=${2:-64}
out=out/train/ab-$n
served=(--cursor typed --current-line-after-middle --heal-trailing-whitespace
        --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 1024)

base=qwen2.5-coder-0.5b-instruct

train() {  # train ARM TRAINER_FLAGS...
  local arm=$1; shift
  $py -m nanocomplete.train.trainer --data "$data" --out "$out/$arm" --resume --max-examples "$n" \
    --batch-examples 8 --learning-rate 3e-4 --precision fp32 --threads "$threads" --checkpoint-steps 4 \
    --base-model "$base" "$@"
  [ -f "$out/$arm/merged.gguf" ] && return
  if [ -f "$out/$arm/adapter/adapter_config.json" ]; then
    $py -m nanocomplete.train.export "$out/$arm/adapter" "$out/$arm/adapter.gguf" --check "$data" \
      --check-examples 4 --base-model "$base" --merge-into "$out/$arm/merged.gguf"
  else  # full fine-tuning: the whole model, exported into the base's quantization scheme
    $py -m nanocomplete.train.export "$out/$arm/adapter" "$out/$arm/merged.gguf" --check "$data" \
      --check-examples 4
  fi
}

budget_tokens() {  # the training tokens of the 512 arms: their first N examples
  $py -c 'import sys; from nanocomplete.train.records import load_examples as load
print(sum(len(r["prompt_ids"]) + len(r["target_ids"]) for r in load(sys.argv[1])[: int(sys.argv[2])]))' "$data" "$n"
}

case $step in
  data)
    $py -m nanocomplete.train.data build --out "$data" --examples 1200 \
      --max-prefix-tokens 512 --max-suffix-tokens 128 --max-context-tokens 384 ;;
  teacher)
    $py -m nanocomplete.train.teacher --data "$data" --max-examples "$n" --threads "$threads" ;;
  ce) train ce ;;
  distill)
    train distill --teacher "$data/teacher-qwen2.5-coder-1.5b-instruct.jsonl" --distill-weight 0.5 ;;
  r64) train r64 --lora-rank 64 --lora-alpha 128 ;;
  ce-1.5b)  # a step is ~10-12 minutes of one AVX2 core: checkpoints every 2; without activation checkpointing
            # one ~1,000-token example of the 1.5B needs 23.5 GB, with every 2nd layer 18.6 (docs/training.md)
    base=qwen2.5-coder-1.5b-instruct train ce-1.5b --checkpoint-steps 2 --activation-checkpointing 2 ;;
  data1024)
    $py -m nanocomplete.train.data build --out "$data1024" --examples 1200 ;;
  p1024)  # CE on 1,024-token prompts, as many of them as fit in the 512 arms' training tokens
    data=$data1024 train p1024 --max-train-tokens "$(budget_tokens)" --max-sequence-tokens 2560 ;;  # none left out
  p1024-b4)  # the same, 4 examples a batch: 8 optimizer steps of ~6 k tokens, as the 512 arms take
    data=$data1024 train p1024-b4 --max-train-tokens "$(budget_tokens)" --max-sequence-tokens 2560 --batch-examples 4 ;;
  full) train full --method full --learning-rate 5e-5 ;;  # every weight, at a sixth of the LoRA arms' rate
  eval|eval-js)
    arm=$3
    case $arm in
      base) model=qwen2.5-coder-0.5b-instruct; name=base ;;
      base-1.5b) model=qwen2.5-coder-1.5b-instruct; name=base-1.5b ;;
      v1) echo "v1 is no longer the registry's nanocomplete-0.5b (the GPU run's adapter since 2026-12-04); its" \
           "runs are out/eval/ab-*--v1 and docs/data/gpu-v1; evaluate the release with ARM released" >&2
          exit 2 ;;
      released) model=nanocomplete-0.5b; name=released ;;
      *.gguf) model=$arm; name=$(basename "$(dirname "$arm")") ;;  # another run's model (runs/train_v2.sh)
      *) model=$out/$arm/merged.gguf; name=$n-$arm ;;
    esac
    leave_out=${LEAVE_OUT:-0}
    after=""; [ "$leave_out" = 0 ] || after="-after-$leave_out"
    if [ "$step" = eval ]; then
      $nc eval humaneval-fim-single --model "$model" "${served[@]}" --limit 400 --leave-out "$leave_out" \
        --threads "$threads" --out "out/eval/ab-he-typed$after--$name"
    else
      $nc eval humaneval-x-js-fim-single --model "$model" "${served[@]}" --limit 200 --leave-out "$leave_out" \
        --threads "$threads" --out "out/eval/ab-js-typed$after--$name"
    fi ;;
  compare)
    for arm in distill r64 full p1024 p1024-b4; do
      for metric in em pass; do
        [ -d "out/eval/ab-he-typed--$n-$arm" ] && \
          $nc compare "out/eval/ab-he-typed--$n-ce" "out/eval/ab-he-typed--$n-$arm" --metric $metric
      done
    done
    for metric in em pass; do
      $nc compare out/eval/ab-he-typed--base "out/eval/ab-he-typed--$n-ce" --metric $metric
      [ -d out/eval/ab-he-typed--v1 ] && $nc compare "out/eval/ab-he-typed--$n-ce" out/eval/ab-he-typed--v1 --metric $metric
    done
    for kind in he js; do  # the 1.5B: trained on the ce arm's examples against its untrained self
      for metric in em pass; do
        [ -d "out/eval/ab-$kind-typed--$n-ce-1.5b" ] && \
          $nc compare "out/eval/ab-$kind-typed--base-1.5b" "out/eval/ab-$kind-typed--$n-ce-1.5b" --metric $metric
      done
    done
    true ;;
  *) echo "usage: runs/train_ab.sh data|data1024|teacher|ce|distill|r64|full|p1024|p1024-b4|ce-1.5b|compare [N] | eval|eval-js N ARM" >&2; exit 2 ;;
esac
