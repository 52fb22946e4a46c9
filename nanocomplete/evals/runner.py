"""Generation step of an evaluation: examples → completions through the product's own path
(prompt → engine → post-processing, `completion.Completer`) → `samples.jsonl`.

A run directory holds `config.json` (what was run), `samples.jsonl` (one line per example, appended and
flushed as it goes, so an interrupted run resumes where it stopped), and later the scoring step's
`results.jsonl` and `summary.json` (see score.py, which runs in a separate process and never imports the
engine).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

from nanocomplete import models
from nanocomplete.completion import Completer, Settings
from nanocomplete.config import EngineConfig, PromptConfig
from nanocomplete.engine import Engine
from nanocomplete.errors import NanocompleteError, PromptError
from nanocomplete.evals.tasks import Example, Task, select, with_cursor


@dataclasses.dataclass(frozen=True)
class RunSpec:
    task: str
    model: str
    limit: int | None
    seed: int
    cursor: str
    prompt: PromptConfig
    engine: EngineConfig


def run_config(spec: RunSpec, task: Task, model_path: Path) -> dict:
    """What identifies a run: resuming into a directory that holds a different run is refused."""
    return {
        "task": spec.task,
        "model": spec.model,
        "model_sha256": _recorded_sha256(model_path),
        "limit": spec.limit,
        "seed": spec.seed,
        "cursor": spec.cursor,
        "prompt": dataclasses.asdict(spec.prompt),
        "generation": dataclasses.asdict(task.generation),
        "postprocess": dataclasses.asdict(task.postprocess),
    }


def generate(spec: RunSpec, task: Task, out_dir: Path, progress: bool = True) -> Path:
    """Write (or complete) `out_dir/samples.jsonl`; returns its path."""
    model_path = models.resolve(spec.model)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_config(out_dir, run_config(spec, task, model_path), spec.engine)
    examples = [with_cursor(e, spec.cursor) for e in select(task.load(), spec.limit, spec.seed)]
    samples_path = out_dir / "samples.jsonl"
    _drop_partial_last_line(samples_path)
    done = _done_ids(samples_path)
    todo = [e for e in examples if e.id not in done]
    if not todo:
        return samples_path
    completer = Completer(
        Engine(model_path, spec.engine), Settings(spec.prompt, task.generation, task.postprocess)
    )
    with open(samples_path, "a", encoding="utf-8") as out:
        for example in tqdm(todo, desc=f"{spec.task} · {spec.model}", disable=not progress, unit="ex"):
            out.write(json.dumps(_sample(completer, example)) + "\n")
            out.flush()
    return samples_path


def score_in_subprocess(out_dir: Path, workers: int = 2) -> dict:
    """Run the scoring step in a fresh process (no model code in it); returns the summary."""
    command = [sys.executable, "-m", "nanocomplete.evals.score", str(out_dir), "--workers", str(workers)]
    subprocess.run(command, check=True)
    return json.loads((out_dir / "summary.json").read_text())


def _sample(completer: Completer, example: Example) -> dict:
    started = time.perf_counter()
    try:
        completion = completer.complete(example.fim_input())
    except PromptError as error:
        return {"id": example.id, "error": str(error)}
    return {
        "id": example.id,
        "completion": completion.text,
        "raw": completion.raw_text,
        "stop_reason": completion.stop_reason,
        "mean_logprob": completion.mean_logprob,
        "min_logprob": completion.min_logprob,
        "timings": dataclasses.asdict(completion.timings),
        "prompt": {
            "context_tokens": completion.context_tokens,
            "prefix_tokens": completion.prefix_tokens,
            "suffix_tokens": completion.suffix_tokens,
        },
        "wall_ms": (time.perf_counter() - started) * 1000,
    }


def _check_or_write_config(out_dir: Path, config: dict, engine: EngineConfig) -> None:
    path = out_dir / "config.json"
    if path.is_file():
        existing = json.loads(path.read_text())
        if {k: existing.get(k) for k in config} != config:
            raise NanocompleteError(
                f"{out_dir} holds a different run (see its config.json): use another --out"
            )
        return
    record = {**config, "engine": dataclasses.asdict(engine), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.write_text(json.dumps(record, indent=2) + "\n")


def _drop_partial_last_line(samples_path: Path) -> None:
    """An interrupted write leaves a line without its newline; cut it so appending stays valid JSONL."""
    if not samples_path.is_file():
        return
    data = samples_path.read_bytes()
    if data and not data.endswith(b"\n"):
        samples_path.write_bytes(data[: data.rfind(b"\n") + 1])


def _done_ids(samples_path: Path) -> set[str]:
    if not samples_path.is_file():
        return set()
    done = set()
    with open(samples_path, encoding="utf-8") as f:
        for line in f:
            done.add(json.loads(line)["id"])
    return done


def _recorded_sha256(model_path: Path) -> str | None:
    sidecar = model_path.with_suffix(model_path.suffix + ".verified")
    try:
        return json.loads(sidecar.read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return None
