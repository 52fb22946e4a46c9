#!/usr/bin/env bash
# Stage 2 (an experiment, docs/training.md "Stage 2"): go on from the released adapter with examples built
# by context engine v2 at the serving budget (512 context tokens), half of them context copies (the answer
# uses a name only the cross-file context shows). 2 cores: data ~1 min, training ~25 min, merge ~1 min.
# Then the 200-pair context study on the merged model (~65 min). Resumable like runs/train.sh.
set -euo pipefail
py=.venv/bin/python
data=${DATA:-$HOME/.cache/nanocomplete/train/data-v2-cpu}
out=${OUT:-out/train/nc05-v2}

$py -m nanocomplete.train.data build --out "$data" --examples 640 --seed 1 \
  --max-prefix-tokens 512 --max-suffix-tokens 128 --max-context-tokens 512 --context-copy-share 0.5
$py -m nanocomplete.train.trainer --data "$data" --out "$out" --resume --init-adapter out/train/nc05-v1/adapter \
  --max-examples 320 --batch-examples 8 --learning-rate 2e-4 --warmup-steps 2 --threads 2 --checkpoint-steps 10
[ -f "$out/merged.gguf" ] || $py -m nanocomplete.train.export "$out/adapter" "$out/adapter.gguf" \
  --check "$data" --check-examples 4 --merge-into "$out/merged.gguf"

xf=(--setting cross_file_first --limit 200 --max-prefix-tokens 512 --max-suffix-tokens 128)
for lang in python typescript; do
  .venv/bin/nanocomplete eval crossfile-$lang-retrieved --model "$out/merged.gguf" "${xf[@]}" --max-context-tokens 512 --out out/eval/xf-$lang-retrieved512-200--v2
  .venv/bin/nanocomplete eval crossfile-$lang --model "$out/merged.gguf" "${xf[@]}" --out out/eval/xf-$lang-none-200--v2
  .venv/bin/nanocomplete eval crossfile-$lang-greedy --model "$out/merged.gguf" "${xf[@]}" --max-context-tokens 1024 --out out/eval/xf-$lang-greedy1024-200--v2
done
