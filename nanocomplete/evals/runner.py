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

from nanocomplete import context, models, prompt
from nanocomplete.completion import Completer, Settings
from nanocomplete.config import ContextConfig, EngineConfig, PromptConfig
from nanocomplete.context import ContextRequest
from nanocomplete.engine import Engine
from nanocomplete.errors import NanocompleteError, PromptError
from nanocomplete.evals.tasks import Example, Task, examples_for, with_cursor
from nanocomplete.storage import drop_partial_last_line
from nanocomplete.workspace import Workspace


@dataclasses.dataclass(frozen=True)
class RunSpec:
    task: str
    model: str
    limit: int | None
    seed: int
    cursor: str
    prompt: PromptConfig
    engine: EngineConfig
    context: ContextConfig = ContextConfig()
    setting: str | None = None  # only the examples of this setting (cross-file tasks)
    leave_out: int | None = None  # first leave out the seeded sample of this many (another run's test set)


def run_config(spec: RunSpec, task: Task, files: models.ModelFiles) -> dict:
    """What identifies a run: resuming into a directory that holds a different run is refused."""
    config = {
        "task": spec.task,
        "model": spec.model,
        "model_sha256": _recorded_sha256(files.model),
        "limit": spec.limit,
        "seed": spec.seed,
        "cursor": spec.cursor,
        "prompt": dataclasses.asdict(spec.prompt),
        "generation": dataclasses.asdict(task.generation),
        "postprocess": dataclasses.asdict(task.postprocess),
    }
    if files.adapter is not None:
        config["adapter_sha256"] = _recorded_sha256(files.adapter)
    if spec.setting is not None:
        config["setting"] = spec.setting
    if spec.leave_out:
        config["leave_out"] = spec.leave_out
    if task.context != "given":
        shares = {"default": context.DEFAULT_SHARES, **context.LANGUAGE_SHARES}  # the allocator's
        config["context"] = {"mode": task.context, **dataclasses.asdict(spec.context), "shares": shares}
    return config


def generate(spec: RunSpec, task: Task, out_dir: Path, progress: bool = True) -> Path:
    """Write (or complete) `out_dir/samples.jsonl`; returns its path."""
    files = models.resolve_files(spec.model)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_config(out_dir, run_config(spec, task, files), spec.engine)
    examples = [
        with_cursor(e, spec.cursor)
        for e in examples_for(task, spec.limit, spec.seed, spec.setting, spec.leave_out)
    ]
    samples_path = out_dir / "samples.jsonl"
    drop_partial_last_line(samples_path)
    done = _done_ids(samples_path)
    todo = [e for e in examples if e.id not in done]
    if not todo:
        return samples_path
    engine = Engine(files.model, spec.engine, files.adapter)
    # with cold_prompt_tokens, every example is answered as a cold request is: from the bounded prompt, the
    # other files selected at the full budget (below) and cut to the bounded one's
    answered_with = prompt.cold_config(spec.prompt) if spec.prompt.cold_prompt_tokens > 0 else spec.prompt
    completer = Completer(engine, Settings(answered_with, task.generation, task.postprocess))
    provider = None
    if task.context != "given":
        provider = RetrievedContext(
            task.context, spec.context, engine.tokenize, spec.prompt.max_context_tokens
        )
    with open(samples_path, "a", encoding="utf-8") as out:
        for example in tqdm(todo, desc=f"{spec.task} · {spec.model}", disable=not progress, unit="ex"):
            cost = {}
            if provider is not None:
                example, cost = provider(example)
            out.write(json.dumps({**_sample(completer, example), **cost}) + "\n")
            out.flush()
    return samples_path


class RetrievedContext:
    """Cross-file context for benchmark examples, selected the way the product does: each example's
    package becomes a workspace, and the document is its file without the target line (the answer is
    never used to retrieve). "greedy" fills the budget with the nearest whole files instead."""

    def __init__(
        self, mode: str, config: ContextConfig, tokenize, budget_tokens: int,
        packages: PackageWorkspaces | None = None,
    ):  # fmt: skip
        """`packages`: indexed packages to share between providers (each package is parsed once)."""
        self.mode, self.config, self.tokenize, self.budget_tokens = mode, config, tokenize, budget_tokens
        self.packages = packages or PackageWorkspaces()

    def __call__(self, example: Example) -> tuple[Example, dict]:
        workspace, texts = self.packages(example.meta["package"])
        lines = texts[example.path].split("\n")
        line = example.meta["line"]
        typed = example.prefix.rpartition("\n")[2]
        request = ContextRequest(
            example.path, "\n".join(lines[:line]) + "\n" + typed, "\n" + "\n".join(lines[line + 1 :])
        )
        started = time.perf_counter()
        if self.mode == "greedy":
            selection = context.greedy_fill(workspace, request, self.tokenize, self.budget_tokens)
            example = dataclasses.replace(example, extra_files=selection.files)
        else:
            fim_input = dataclasses.replace(example.fim_input(), prefix=request.prefix, suffix=request.suffix)
            attached, selection = context.attach(
                fim_input, workspace, self.tokenize, self.budget_tokens, self.config
            )
            cut = line - example.prefix.count("\n")  # lines before the example's prefix (it holds the end)
            header = tuple((number - cut, text) for number, text in attached.header)
            example = dataclasses.replace(example, extra_files=attached.extra_files, header=header)
        cost = {
            "context": {
                "tokens": selection.tokens,
                "by_source": selection.by_source,
                "select_ms": (time.perf_counter() - started) * 1000,
                "paths": [f.path for f in selection.files],
            }
        }
        return example, cost


class PackageWorkspaces:
    """Benchmark packages indexed as workspaces, each once, with their files' texts."""

    def __init__(self):
        self._indexed: dict[str, tuple[Workspace, dict[str, str]]] = {}

    def __call__(self, package: str) -> tuple[Workspace, dict[str, str]]:
        if package not in self._indexed:
            from nanocomplete.evals import crossfile

            files = crossfile.package_files(package)
            workspace = Workspace()
            for path, text in files.items():
                workspace.add(path, text)
            self._indexed[package] = (workspace, files)
        return self._indexed[package]


def score_in_subprocess(out_dir: Path, workers: int = 2) -> dict:
    """Run the scoring step in a fresh process (no model code in it); returns the summary."""
    command = [sys.executable, "-m", "nanocomplete.evals.score", str(out_dir), "--workers", str(workers)]
    subprocess.run(command, check=True)
    return json.loads((out_dir / "summary.json").read_text())


def _sample(completer: Completer, example: Example) -> dict:
    started = time.perf_counter()
    try:
        fim_input = example.fim_input()
        # no typing history here: the longest middle the server would show at this cursor
        middle_start = prompt.longest_middle_start(
            fim_input, completer.engine.tokenize, completer.settings.prompt
        )
        completion = completer.complete(fim_input, middle_start_hint=middle_start)
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


SAMPLE_KEYS = ("limit", "seed", "setting", "leave_out")  # what picks a run's examples


def _check_or_write_config(out_dir: Path, config: dict, engine: EngineConfig) -> None:
    path = out_dir / "config.json"
    if path.is_file():
        existing = json.loads(path.read_text())
        if not _same_run(existing, config):
            raise NanocompleteError(
                f"{out_dir} holds a different run (see its config.json): use another --out"
            )
        return
    record = {**config, "engine": dataclasses.asdict(engine), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.write_text(json.dumps(record, indent=2) + "\n")


def _same_run(existing: dict, config: dict) -> bool:
    """Whether a run directory's config is this run's. Settings added after the run was written are not
    in its config; they compare equal (a new setting's default keeps the old behaviour). The keys that
    pick the examples must match both ways: a held-out run is not its test sample's run."""
    if any(existing.get(key) != config.get(key) for key in SAMPLE_KEYS):
        return False
    for key, value in config.items():
        recorded = existing.get(key)
        if isinstance(value, dict) and isinstance(recorded, dict):
            if any(recorded[k] != v for k, v in value.items() if k in recorded):
                return False
        elif recorded != value:
            return False
    return True


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
