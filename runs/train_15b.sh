#!/usr/bin/env bash
# nanocomplete-1.5b (#19 item 1): the pipeline of runs/train.sh applied to the 1.5B-Instruct, at the scale a CPU
# allows. On CPU one example costs ~3x the 0.5B's, so the scale comes from a timed trial (docs/training.md,
# "nanocomplete-1.5b"). Every 2nd layer's activations are recomputed in the backward pass (18.6 GB instead of
# 23.5 GB, which the kernel killed on a 24 GB machine). PRECISION defaults to fp32: without AVX-512 BF16, bf16 autocast is emulated and slower. Every step is seeded and resumable: rerun after an interruption and it goes on.
# Usage: runs/train_15b.sh trial          (3 steps of 2 examples: seconds per example, peak memory)
#        runs/train_15b.sh EXAMPLES [SECONDS]   (the run: EXAMPLES examples, stopping after SECONDS of training)
# With a lent GPU, `BASE_MODEL=qwen2.5-coder-1.5b-instruct runs/gpu_train.sh` trains it far larger.
set -euo pipefail
py=.venv/bin/python
data=${DATA:-$HOME/.cache/nanocomplete/train/data-v2-check}
base=qwen2.5-coder-1.5b-instruct
# the data of the check build (docs/training.md, "Sources v2"): 18 TRAIN packages, the CPU budgets
[ -f "$data/manifest.json" ] || $py -m nanocomplete.train.data build --out "$data" --examples 6000 \
  --max-prefix-tokens 512 --max-suffix-tokens 128 --max-context-tokens 384
if [ "${1:-}" = trial ]; then
  out=out/train/nc15-trial
  rm -rf "$out"
  /usr/bin/time -v $py -m nanocomplete.train.trainer --data "$data" --out "$out" --base-model $base \
    --max-examples 6 --batch-examples 2 --warmup-steps 1 --threads ${THREADS:-1} --checkpoint-steps 100 \
    --precision ${PRECISION:-fp32} \
    2> >(grep -E "Maximum resident|Elapsed" >&2)
  exit 0
fi
examples=${1:?usage: runs/train_15b.sh trial | EXAMPLES [SECONDS]}
out=${OUT:-out/train/nc15-v1}
$py -m nanocomplete.train.trainer --data "$data" --out "$out" --resume --base-model $base \
  --max-examples "$examples" --batch-examples 8 --learning-rate 2e-4 --threads ${THREADS:-2} \
  --checkpoint-steps 2 --max-train-seconds "${2:-0}" --precision ${PRECISION:-fp32} \
  --activation-checkpointing ${ACTIVATION_CHECKPOINTING:-2}  # without it one example needs 23.5 GB of 24
# the GGUF adapter the registry would ship as nanocomplete-1.5b, checked against PEFT on 4 examples
$py -m nanocomplete.train.export "$out/adapter" nanocomplete/adapters/nanocomplete-1.5b.gguf \
  --check "$data" --check-examples 4
