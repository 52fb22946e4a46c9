"""The teacher signal: a larger model's top-k log-probabilities at every answer position, cached on disk.

    python -m nanocomplete.train.teacher --data DIR [--model qwen2.5-coder-1.5b-instruct] [--top-k 8]

The teacher reads the same prompt ids as the student (the two share a tokenizer) through the product's
llama.cpp engine, teacher-forced along the real answer (`Engine.top_logprobs`). One JSONL line per example
(`id`, `top_ids`, `top_logprobs`) goes to DIR/teacher-<model>.jsonl; a rerun skips the examples already
scored. The trainer mixes it in with `--teacher FILE --distill-weight W`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from nanocomplete import models
from nanocomplete.config import EngineConfig
from nanocomplete.storage import drop_partial_last_line
from nanocomplete.train import data
from nanocomplete.train.records import load_teacher as load

TEACHER_MODEL = "qwen2.5-coder-1.5b-instruct"
DEFAULT_TOP_K = 8


def teacher_file(data_dir: Path | str, model: str) -> Path:
    """DIR/teacher-<model>.jsonl: the registered name, or a .gguf file's name without its extension (a
    registered name's dots stay: "qwen2.5-coder-1.5b-instruct" is not a file name with a suffix)."""
    name = Path(model).stem if model.endswith(".gguf") else Path(model).name
    return Path(data_dir) / f"teacher-{name}.jsonl"


def score(records: Sequence[dict], engine, top_k: int, out_path: Path, progress: bool = True) -> int:
    """Append the teacher's top-k for every record not yet in `out_path`; returns how many were scored."""
    drop_partial_last_line(out_path)
    done = load(out_path)
    todo = [r for r in records if r["id"] not in done]
    with open(out_path, "a", encoding="utf-8") as out:
        for record in tqdm(todo, desc="teacher", unit="ex", disable=not progress):
            top_ids, top_logprobs = engine.top_logprobs(record["prompt_ids"], record["target_ids"], top_k)
            out.write(
                json.dumps({"id": record["id"], "top_ids": top_ids, "top_logprobs": top_logprobs}) + "\n"
            )
            out.flush()
    return len(todo)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nanocomplete.train.teacher", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="folder of train-*.jsonl shards")
    parser.add_argument("--model", default=TEACHER_MODEL, help=f"teacher model (default: {TEACHER_MODEL})")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="log-probs kept per position")
    parser.add_argument("--max-examples", type=int, default=None, help="only the first N examples")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for llama.cpp (0: all cores)")
    args = parser.parse_args(argv)
    from nanocomplete.engine import Engine

    records = data.load(args.data)[: args.max_examples]
    config = EngineConfig(threads=args.threads, kv_shift_min_tokens=0)  # exact log-probs: no shifted KV
    engine = Engine(models.resolve(args.model), config)
    out_path = teacher_file(args.data, args.model)
    scored = score(records, engine, args.top_k, out_path)
    print(f"scored {scored} examples into {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
