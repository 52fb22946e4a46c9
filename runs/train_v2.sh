#!/usr/bin/env bash
# Training v2, item 3 (docs/training.md "The v2 CPU release"): the A/B's winning recipe (cross-entropy, LoRA r16,
# 512-token prompts) on the 18 TRAIN packages of Sources v2, at the largest scale one 2-core session allows,
# judged against nanocomplete-0.5b v1 (released until 2026-12-04, out/eval/*--v1 and *--served) on the same
# tasks, paired. It replaces v1 only if it is better there and not worse on JavaScript.
# Usage: runs/train_v2.sh STEP
#   data     build 1,600 examples (CPU budgets 512 / 128 / 384; ~770 tokens each)
#   train    the first N examples (N=1024: 128 steps of 8, ~0.8 M tokens), bf16 autocast; resumable: rerun it
#            after an interruption, with THREADS changed if you like (a run-only setting)
#   stage    a later stage: from the committed adapter (INIT, default nanocomplete/adapters/nanocomplete-0.5b.gguf),
#            the N examples after the first SKIP (default 0) that earlier stages took, at most MAX_TRAIN_SECONDS
#            (default 0: no limit); OUT defaults to out/train/stage-SKIP-N. Then export / eval v2 / compare with
#            the same OUT. The session of 2026-12-03: OUT=out/train/stage1 N=576 THREADS=2 MAX_TRAIN_SECONDS=5700
#   export   the GGUF adapter, checked against PEFT, and the merged model for the evaluations
#   eval ARM    HumanEval single-line as served, 400 tasks (ARM: released | v2); LEAVE_OUT=400: the next 400, which
#               `compare` pools with the first
#   eval-js ARM HumanEval-X JavaScript single-line as served, 200 tasks
#   eval-xf LANG ARM  cross-file next line with the context engine, XF_LIMIT (100) examples (LANG: python |
#            typescript); XF_LEAVE_OUT=100 takes the next, disjoint 100 (out dir ...-100-after-100), which
#            `compare` pools with the first; ARM base: the untrained 0.5B-Instruct (0 training tokens);
#            ARM base-1.5b or a merged .gguf (out/train/gpu-1.5b/merged.gguf)
#            runs the quality tier's rows (#19)
#   compare  the paired table (HumanEval, JavaScript, cross-file: each that both arms have)
set -euo pipefail
py=.venv/bin/python
nc=.venv/bin/nanocomplete
threads=${THREADS:-1}
n=${N:-1024}
data=${DATA:-$HOME/.cache/nanocomplete/train/data-v2-release}
skip=${SKIP:-0}
xf_limit=${XF_LIMIT:-100}
xf_leave_out=${XF_LEAVE_OUT:-0}
xf_after=""; [ "$xf_leave_out" = 0 ] || xf_after="-after-$xf_leave_out"
init=${INIT:-nanocomplete/adapters/nanocomplete-0.5b.gguf}
default_out=out/train/nc05-v2-$n
[ "$1" = stage ] && default_out=out/train/stage-$skip-$n
out=${OUT:-$default_out}
base=qwen2.5-coder-0.5b-instruct

trainer() {  # the recipe's trainer call on this build, then FLAGS...
  $py -m nanocomplete.train.trainer --data "$data" --out "$out" --resume --max-examples "$n" \
    --batch-examples 8 --learning-rate 3e-4 --threads "$threads" --base-model "$base" "$@"
}

paired() {  # A B MORE_A MORE_B: "A B", or "A,MORE_A B,MORE_B" when both arms have the next disjoint sample
  if [ -f "$3/summary.json" ] && [ -f "$4/summary.json" ]; then echo "$1,$3 $2,$4"; else echo "$1 $2"; fi
}
he_pair() {  # NAME: v1 and NAME on HumanEval (the first 400 tasks, pooled with the next 400 where both ran)
  paired out/eval/ab-he-typed--v1 "out/eval/ab-he-typed--$1" out/eval/ab-he-typed-after-400--v1 \
    "out/eval/ab-he-typed-after-400--$1"
}
xf_pair() {  # LANG NAME: v1 and NAME on cross-file next line (XF_LIMIT, pooled with the next XF_LIMIT)
  paired "out/eval/xf-$1-$xf_limit--served" "out/eval/xf-$1-$xf_limit--$2" \
    "out/eval/xf-$1-$xf_limit-after-$xf_limit--served" "out/eval/xf-$1-$xf_limit-after-$xf_limit--$2"
}

case $1 in
  data)
    $py -m nanocomplete.train.data build --out "$data" --examples 1600 \
      --max-prefix-tokens 512 --max-suffix-tokens 128 --max-context-tokens 384 ;;
  train) trainer --checkpoint-steps 10 ;;
  stage)
    trainer --init-adapter "$init" --skip-examples "$skip" --checkpoint-steps 4 \
      --max-train-seconds "${MAX_TRAIN_SECONDS:-0}" ;;
  export)
    $py -m nanocomplete.train.export "$out/adapter" "$out/adapter.gguf" --check "$data" \
      --check-examples 8 --base-model "$base" --merge-into "$out/merged.gguf" ;;
  eval|eval-js)  # the A/B's evaluations as served (out/eval/ab-{he,js}-typed--NAME)
    case $2 in
      v1|released) runs/train_ab.sh "$1" 0 "$2" ;;
      v2) runs/train_ab.sh "$1" 0 "$out/merged.gguf" ;;
      *) echo "eval ARM: released | v2" >&2; exit 2 ;;
    esac ;;
  eval-xf)  # eval-xf LANG ARM: cross-file next line with the context engine, the first XF_LIMIT (100) seeded
            # examples as served; v1's run is runs/cold_prompt.sh's `served` arm (the same command)
    lang=$2
    case $3 in
      v1) echo "v1 is no longer the registry's nanocomplete-0.5b (the GPU run's adapter since 2026-12-04); its" \
           "runs are out/eval/xf-*--served and docs/data/gpu-v1; evaluate the release with ARM released" >&2
          exit 2 ;;
      released) model=nanocomplete-0.5b; name=released ;;
      v2) model=$out/merged.gguf; name=$(basename "$out") ;;
      base) model=$base; name=base ;;  # the untrained 0.5B-Instruct: the curve's point at 0 training tokens
      base-1.5b) model=qwen2.5-coder-1.5b-instruct; name=base-1.5b ;;  # the quality tier's untrained base
      *.gguf) model=$3; name=$(basename "$(dirname "$3")") ;;  # another run's model, named after its folder
      *) echo "eval-xf LANG ARM: python|typescript released|v2|base|base-1.5b|PATH.gguf" >&2; exit 2 ;;
    esac
    $nc eval "crossfile-$lang-retrieved" --model "$model" --limit "$xf_limit" --leave-out "$xf_leave_out" \
      --current-line-after-middle --heal-trailing-whitespace --max-prefix-tokens 1024 --max-suffix-tokens 256 \
      --max-context-tokens 1024 --threads "$threads" --out "out/eval/xf-$lang-$xf_limit$xf_after--$name" ;;
  compare)
    name=$(basename "$out")
    v1_js=out/eval/ab-js-typed--v1  # runs/tier_rows.sh js ran the same command for nanocomplete-0.5b
    [ -d "$v1_js" ] || v1_js=out/eval/tier-js-typed--nanocomplete-0.5b
    for pair in "$(he_pair "$name") em pass" \
                "$v1_js out/eval/ab-js-typed--$name em pass" \
                "$(xf_pair python "$name") em es" \
                "$(xf_pair typescript "$name") em es"; do
      read -r before after metrics <<<"$pair"
      [ -f "${before%%,*}/summary.json" ] && [ -f "${after%%,*}/summary.json" ] || continue
      for metric in $metrics; do
        echo "== $after $metric − v1"
        $nc compare "$before" "$after" --metric "$metric"
      done
    done ;;
  *) echo "usage: runs/train_v2.sh data | train | stage | export | eval ARM | eval-js ARM | eval-xf LANG ARM | compare" >&2; exit 2 ;;
esac
