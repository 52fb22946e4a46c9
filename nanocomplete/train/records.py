"""Reading built training data: the example shards and the teacher's top-k file. Standard library only, so
that the trainer runs where nothing but torch, transformers and peft is installed (a lent GPU machine,
train/gpu.py): building data needs tree-sitter and the corpus, reading it does not."""

from __future__ import annotations

import json
from pathlib import Path


def load_examples(out_dir: Path | str) -> list[dict]:
    """Every record of a built set (`train-*.jsonl` shards, data.py), shard by shard."""
    records = []
    for shard in sorted(Path(out_dir).glob("train-*.jsonl")):
        with open(shard, encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def load_teacher(path: Path | str) -> dict[str, dict]:
    """id → {"top_ids", "top_logprobs"} from a teacher file (teacher.py; a partly written last line is
    ignored)."""
    found = {}
    path = Path(path)
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        found[record["id"]] = {"top_ids": record["top_ids"], "top_logprobs": record["top_logprobs"]}
    return found
