#!/usr/bin/env bash
# The prepared GPU run (#20 item 4; docs/training.md, "The GPU run"): everything a session with a lent H200
# does on its own CPU first, then the exact device calls to make, in order, with their time budget.
# Nothing here needs the GPU; the device calls are made with the session's `run` tool (it is no command).
#
# Usage: runs/gpu_train.sh [EXAMPLES]      (default 20000: ~28 M training tokens, ~50x the CPU run's 0.56 M)
#        COPY_TRIES=24 runs/gpu_train.sh   (Python's share of context copies filled; a longer build)
#        CROSS_FILE_SHARE=0.33 runs/gpu_train.sh   (a third of the examples lines that use a name imported from
#        another file of the package, about twice their own share; docs/training.md "Cross-file lines")
#        BASE_MODEL=qwen2.5-coder-1.5b-instruct runs/gpu_train.sh   (nanocomplete-1.5b: the 1.1 GB base travels
#        in 21 parts of 53 MiB, ~2.5 min of the 15 with the machine's start; the rest trains)
# Then make the calls it prints, back to back (the machine is given back 30 s after a call ends), then:
#   .venv/bin/python -m nanocomplete.train.gpu collect FILES_AT [FILES_AT_OF_THE_SEND_CALL] --out out/train/gpu-v1
#   .venv/bin/python -m nanocomplete.train.export out/train/gpu-v1/adapter out/train/gpu-v1/adapter.gguf \
#     --check "$DATA" --check-examples 8
set -euo pipefail
py=.venv/bin/python
examples=${1:-20000}
# COPY_TRIES=24: fill Python's share of context copies (24% instead of 11% of examples; the build takes over
# twice as long: docs/training.md, "Python context copies"), in a folder of its own, so that no build of
# another recipe is reused or overwritten; CROSS_FILE_SHARE likewise (-xfSHARE)
copy_tries=${COPY_TRIES:-}
cross_file_share=${CROSS_FILE_SHARE:-}
DATA=${DATA:-$HOME/.cache/nanocomplete/train/data-gpu-$examples${copy_tries:+-tries$copy_tries}${cross_file_share:+-xf$cross_file_share}}

# 1. the data, here (tree-sitter and the corpus are not on the GPU machine): the server's prompt path at its
#    serving budgets, the recipe of runs/train.sh otherwise (~1 s per 20 examples on 2 cores)
#    (~20 min on one core: an earlier build of the same examples and recipe is kept; the tokenizer is the same for
#    both bases)
if [ ! -f "$DATA/manifest.json" ]; then
  $py -m nanocomplete.train.data build --out "$DATA" --examples "$examples" \
    --max-prefix-tokens 1024 --max-suffix-tokens 256 --max-context-tokens 512 \
    ${copy_tries:+--copy-tries-per-slot "$copy_tries"} ${cross_file_share:+--cross-file-share "$cross_file_share"}
fi
# 2. the one package the machine lacks for reading a GGUF (transformers' gguf loader), as a wheel
mkdir -p .gpu-wheels
$py -m pip download --quiet --no-deps --only-binary=:all: -d .gpu-wheels \
  "gguf==$($py -c 'import importlib.metadata as m; print(m.version("gguf"))')"
# 3. the base GGUF, the data (xz) and the wheel as parts that each fit one call beside the working tree
$py -m nanocomplete.train.gpu pack --data "$DATA" --out .gpu --wheel .gpu-wheels/gguf-*.whl \
  ${BASE_MODEL:+--base-model "$BASE_MODEL"}
# 4. the calls, in order
parts=$(ls -d .gpu/part-* | sort)
n=$(echo "$parts" | wc -l)
cat <<PLAN

Device calls, back to back ($n parts; budgets measured in the first run, docs/training.md; several calls may
go in one message, they run one after another; every call prints its own time):
PLAN
i=0
for part in $parts; do
  i=$((i + 1))
  if [ $i -eq 1 ]; then
    echo "  run(carry=[\"$part\"], timeout_s=300, command=\"python3 -m nanocomplete.train.gpu receive $part && PYTHONUNBUFFERED=1 python3 -m nanocomplete.train.gpu smoke -- --lora-rank 32 --micro-batch-examples 2 --precision bf16\")   # ~70 s (machine start, the smoke check)"
  else
    echo "  run(carry=[\"$part\"], timeout_s=120, command=\"python3 -m nanocomplete.train.gpu receive $part\")   # ~4 s"
  fi
done
cat <<PLAN
  run(timeout_s=B+100, command="PYTHONUNBUFFERED=1 python3 -m nanocomplete.train.gpu train --return-dir \$OUT --budget-s B -- --lora-rank 32 --lora-alpha 64 --batch-examples 64 --micro-batch-examples 16 --learning-rate 3e-4 --warmup-steps 10 --checkpoint-steps 50 --precision bf16")
      # B = min(the device time left after the last part minus 110 s, 490): ~55 s of load before training,
      # the last step and the return; one call runs at most 600 s. The learning rate's cosine ends by B
      # whatever the examples left; with time left over, a second train call (a new B) goes on from the
      # checkpoint (every 50 steps and at B) and the cosine goes on from where the first one stopped
      # measured: the 0.5B's overhead ~60 s, the 1.5B's 77 s (B 500: a 577 s call)
  run(timeout_s=60, command="python3 -m nanocomplete.train.gpu send --from K --return-dir \$OUT")
      # only when the train call printed "pieces stay on the machine" (one call brings back 64 MiB: the
      # 1.5B's rank-32 run is 68 MB, so it needs this call), at once: the machine goes back after 30 s idle
  give_back()
If the train call runs out of time, call it again at once: it resumes from its checkpoint.
PLAN
