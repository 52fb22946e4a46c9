#!/usr/bin/env bash
# #18 item 4 (the model rows) and #21 item 5 (today's default): the served arm of IDE replay v2 for each model,
# on the default sessions, paired afterwards with the peer arm of the all-arms runs in docs/data/replay-v3/
# (`bench replay --pair RUN/served docs/data/replay-v3/LANG-cold512-all-arms/peer`).
# Usage: runs/replay_models.sh CHAIN     CHAIN a: nanocomplete-0.5b Python, then 0.5B-Instruct TS and Python;
#                                        CHAIN b: 1.5B-Instruct TS and Python. One llama.cpp thread each, so the
#                                        two chains run side by side on a 2-core machine.
set -uo pipefail
nc=.venv/bin/nanocomplete
run() {  # run MODEL LANGUAGE
  local out=out/bench/replay-v4/$2-$1
  $nc bench replay --language "$2" --arms served --model "$1" --threads 1 --out "$out" || echo "FAILED: $out"
}
case "${1:-}" in
  a) run nanocomplete-0.5b python; run qwen2.5-coder-0.5b-instruct typescript; run qwen2.5-coder-0.5b-instruct python ;;
  b) run qwen2.5-coder-1.5b-instruct typescript; run qwen2.5-coder-1.5b-instruct python ;;
  *) echo "usage: $0 a|b" >&2; exit 2 ;;
esac
