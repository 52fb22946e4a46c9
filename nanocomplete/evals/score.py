"""Scoring step of an evaluation: `samples.jsonl` → `results.jsonl` (metrics per example) + `summary.json`.

Run as its own process (`python -m nanocomplete.evals.score RUN_DIR`): it imports no model code, and the
programs it executes run in the sandbox. Scores per task kind:
- fim_exec: pass@1 (prefix + completion + suffix, then the problem's tests), Qwen first-line EM and ES on
  the raw generation, strict EM of the post-processed completion against the whole reference; at the
  `auto-closed` cursor, EM, ES and strict EM compare the line as the editor shows it after the completion
  (the auto-closed characters covered or kept), and the tests run that buffer;
- l2r_exec: pass@1 of prompt + completion against the tests;
- next_line: RepoBench EM (whitespace tokens), ES and identifier EM / F1 of the first code line of the
  completion the user would see, plus EM of the raw generation's first code line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nanocomplete import postprocess
from nanocomplete.evals import metrics
from nanocomplete.evals.sandbox import Limits, run_node, run_python
from nanocomplete.evals.tasks import Example, examples_for, get_task, with_cursor

PROMPT_BUCKETS = ((0, "<512"), (512, "512-1023"), (1024, "1024-2047"), (2048, "2048+"))
EXEC_LIMITS = Limits(timeout_s=10, cpu_s=10, memory_mb=1024)


# `console.assert` only logs in Node; the harness makes a failed assertion throw.
JS_ASSERT_SHIM = (
    "console.assert = (condition, ...message) => {\n"
    "  if (!condition) { throw new Error('assertion failed: ' + message.join(' ')); }\n"
    "};\n"
)


def python_program(prefix: str, completion: str, suffix: str, test: str, entry_point: str) -> str:
    return f"{prefix}{completion}{suffix}\n\n{test}\n\ncheck({entry_point})\n"


def javascript_program(prefix: str, completion: str, suffix: str, test: str) -> str:
    return f"{prefix}{completion}{suffix}\n\n{JS_ASSERT_SHIM}\n{test}\n"


def score_fim_exec(example: Example, sample: dict) -> dict:
    completion, raw = sample["completion"], sample["raw"]
    reference_line = metrics.qwen_first_line(example.reference)
    predicted_line = metrics.qwen_first_line(raw)
    shown = completion
    if "auto_closed" in example.meta:  # the line as the editor shows it, the closers covered or kept
        example = _with_closers_covered(example, completion)
        shown = predicted_line = metrics.qwen_first_line(completion + example.suffix)
    return {
        "pass": float(_execute(example, completion)),
        "em": metrics.exact_match(predicted_line, reference_line),
        "es": metrics.edit_similarity(predicted_line, reference_line),
        "strict_em": metrics.exact_match(shown, example.reference),
    }


def score_l2r_exec(example: Example, sample: dict) -> dict:
    return {"pass": float(_execute(example, sample["completion"]))}


def score_next_line(example: Example, sample: dict) -> dict:
    predicted = metrics.first_code_line(sample["completion"], example.language)
    predicted_raw = metrics.first_code_line(sample["raw"], example.language)
    reference = example.reference.strip()
    return {
        "em": metrics.token_exact_match(predicted, reference),
        "es": metrics.edit_similarity(predicted, reference),
        "id_em": metrics.identifier_exact_match(predicted, reference),
        "id_f1": metrics.identifier_f1(predicted, reference),
        "em_raw": metrics.token_exact_match(predicted_raw, reference),
        "shown": float(bool(sample["completion"].strip())),
    }


SCORERS: dict[str, Callable[[Example, dict], dict]] = {
    "fim_exec": score_fim_exec,
    "l2r_exec": score_l2r_exec,
    "next_line": score_next_line,
}


def _with_closers_covered(example: Example, completion: str) -> Example:
    """The example whose suffix lacks the auto-closed characters that `completion` covers (VS Code's replace
    range, `postprocess.covered_closers`): what the editor's buffer holds after the completion."""
    line_prefix = example.prefix.rpartition("\n")[2]
    covered = postprocess.covered_closers(completion, example.suffix.partition("\n")[0], line_prefix)
    return dataclasses.replace(example, suffix=example.suffix[covered:])


def _execute(example: Example, completion: str) -> bool:
    """Splice the completion between prefix and suffix and run the tests. The infilling references end
    with their line's newline, which an editor already has after the cursor; the product completes the
    line without it, so the newline is added back when the reference has one."""
    if example.reference.endswith("\n") and not completion.endswith("\n"):
        completion += "\n"
    test = example.meta["test"]
    if example.language == "javascript":
        program = javascript_program(example.prefix, completion, example.suffix, test)
        return run_node(program, EXEC_LIMITS).passed
    program = python_program(example.prefix, completion, example.suffix, test, example.meta["entry_point"])
    return run_python(program, EXEC_LIMITS).passed


def score_run(run_dir: Path, workers: int = 2) -> dict:
    config = json.loads((run_dir / "config.json").read_text())
    task = get_task(config["task"])
    examples = {
        e.id: e
        for e in examples_for(
            task, config["limit"], config["seed"], config.get("setting"), config.get("leave_out")
        )
    }
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    scorer = SCORERS[task.scorer]

    def score_one(sample: dict) -> dict:
        example = with_cursor(examples[sample["id"]], config["cursor"])
        scores = {} if "error" in sample else scorer(example, sample)
        return {
            "id": sample["id"],
            **_groups(example, sample),
            "error": sample.get("error"),
            "scores": scores,
        }

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(score_one, samples))
    with open(run_dir / "results.jsonl", "w", encoding="utf-8") as f:
        for result in results:
            f.write(json.dumps(result) + "\n")
    summary = summarise(config, results, samples)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _groups(example: Example, sample: dict) -> dict:
    prompt_tokens = sample.get("timings", {}).get("prompt_tokens", 0)
    bucket = next(label for low, label in reversed(PROMPT_BUCKETS) if prompt_tokens >= low)
    return {"setting": example.meta.get("setting"), "bucket": bucket}


def summarise(config: dict, results: list[dict], samples: list[dict]) -> dict:
    """Every metric's mean and 95% interval, overall, by setting and by prompt-length bucket; latency."""
    scored = [r for r in results if not r["error"]]
    names = sorted({name for r in scored for name in r["scores"]})
    summary = {
        "task": config["task"],
        "model": config["model"],
        "cursor": config["cursor"],
        "layout": "after_middle" if config["prompt"]["current_line_after_middle"] else "standard",
        "n": len(results),
        "errors": len(results) - len(scored),
        "overall": {name: metrics.mean_with_interval([r["scores"][name] for r in scored]) for name in names},
        "by_setting": _by(scored, "setting", names),
        "by_bucket": _by(scored, "bucket", names),
        "latency": _latency(samples),
    }
    return summary


def _by(results: list[dict], key: str, names: list[str]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for result in results:
        if result[key] is not None:
            groups[result[key]].append(result)
    return {
        group: {name: metrics.mean_with_interval([r["scores"][name] for r in members]) for name in names}
        for group, members in sorted(groups.items())
    }


def _latency(samples: list[dict]) -> dict:
    timed = [s for s in samples if "timings" in s]
    if not timed:
        return {}
    total = sorted(s["timings"]["prompt_ms"] + s["timings"]["generation_ms"] for s in timed)
    return {
        "total_ms_p50": statistics.median(total),
        "total_ms_p95": metrics.p95(total),
        "prompt_tokens_median": statistics.median(s["timings"]["prompt_tokens"] for s in timed),
        "prompt_tokens_evaluated_median": statistics.median(
            s["timings"]["prompt_tokens_evaluated"] for s in timed
        ),
        "tokens_generated_median": statistics.median(s["timings"]["tokens_generated"] for s in timed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nanocomplete.evals.score", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--workers", type=int, default=2, help="programs executed at once")
    args = parser.parse_args(argv)
    summary = score_run(args.run_dir, args.workers)
    print(json.dumps(summary["overall"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
