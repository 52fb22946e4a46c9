"""HumanEval-family data (evaluation only; never training data): where the files are and how they are read.
The evaluation tasks load them (evals/tasks.py); the training-data builder reads them only to keep them
out (decontaminate.py). The data files are in the repository's `data/` ($NANOCOMPLETE_DATA_DIR overrides;
see data/README.md for their origin, license and hash).

- Single-line and multi-line infilling (Bavarian et al. 2022): prefix / middle / suffix per task.
- HumanEval-X JavaScript single-line infilling, built here from the canonical solutions: one task per
  non-blank line of each solution (the same construction as the Python single-line set).
- HumanEval (left to right): the prompt, the body to write, the problem's original tests. Prompts and
  tests come from the HumanEval+ release's base fields (the original problems, a few prompt fixes).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("NANOCOMPLETE_DATA_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "data"


def read_jsonl_gz(relative: str) -> Iterator[dict]:
    path = data_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(f"benchmark data not found at {path} (set NANOCOMPLETE_DATA_DIR)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def infilling(kind: str) -> list[dict]:
    """Records of HumanEval-{kind}Infilling: task_id, prompt (prefix), suffix, canonical_solution (middle),
    test, entry_point. kind: "SingleLine" or "MultiLine"."""
    return list(read_jsonl_gz(f"humaneval-infilling/HumanEval-{kind}Infilling.jsonl.gz"))


# With real assertions, these canonical solutions fail their own tests (112 and 155 compare arrays with
# `===`; 162 needs the npm package js-md5), so no completion could pass: they are left out.
BROKEN_JAVASCRIPT_PROBLEMS = frozenset({"JavaScript/112", "JavaScript/155", "JavaScript/162"})


def javascript_single_line() -> list[dict]:
    """One task per non-blank line of each HumanEval-X JavaScript canonical solution."""
    tasks = []
    for problem in read_jsonl_gz("humaneval-x/humaneval_js.jsonl.gz"):
        if problem["task_id"] in BROKEN_JAVASCRIPT_PROBLEMS:
            continue
        lines = problem["canonical_solution"].splitlines(keepends=True)
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            tasks.append(
                {
                    "task_id": f"{problem['task_id']}/L{index}",
                    "prompt": problem["prompt"] + "".join(lines[:index]),
                    "canonical_solution": line if line.endswith("\n") else line + "\n",
                    "suffix": "".join(lines[index + 1 :]),
                    "test": problem["test"],
                }
            )
    return tasks


def left_to_right() -> list[dict]:
    """HumanEval problems: task_id, prompt, canonical_solution, test, entry_point."""
    fields = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
    return [
        {k: record[k] for k in fields} for record in read_jsonl_gz("humanevalplus/HumanEvalPlus.jsonl.gz")
    ]
