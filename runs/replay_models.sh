#!/usr/bin/env bash
# #18 item 4 (the model rows) and #21 item 5 (today's default): the served arm of IDE replay v2 for each model,
# on the default sessions, paired afterwards with the peer arm of the all-arms runs in docs/data/replay-v3/
# (`bench replay --pair RUN/served docs/data/replay-v3/LANG-cold512-all-arms/peer`).
# Usage: runs/replay_models.sh CHAIN     CHAIN a: nanocomplete-0.5b Python, then 0.5B-Instruct TS and Python;
#                                        CHAIN b: 1.5B-Instruct TS, then Python on the first 4 visits of each
#                                        session (every request kind; the 1.5B's full Python run takes ~2 h on
#                                        one AVX2 core). One llama.cpp thread each, so the two chains run side
#                                        by side on a 2-core machine.
set -uo pipefail
nc=.venv/bin/nanocomplete
run() {  # run MODEL LANGUAGE [FLAGS...]
  local model=$1 language=$2; shift 2
  local out=out/bench/replay-v4/$language-$model${1:+-visits$2}
  $nc bench replay --language "$language" --arms served --model "$model" --threads 1 --out "$out" "$@" \
    || echo "FAILED: $out"
}
case "${1:-}" in
  a) run nanocomplete-0.5b python; run qwen2.5-coder-0.5b-instruct typescript; run qwen2.5-coder-0.5b-instruct python ;;
  b) run qwen2.5-coder-1.5b-instruct typescript; run qwen2.5-coder-1.5b-instruct python --visits 4 ;;
  b2) run qwen2.5-coder-1.5b-instruct python --visits 4 ;;
  *) echo "usage: $0 a|b|b2 (b2: b's second step alone)" >&2; exit 2 ;;
esac
