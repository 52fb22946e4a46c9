"""Cross-file next-line examples split by whether the reference line is a context copy (an identifier of
at least three characters that the prompt's cross-file context shows and its in-file text does not: the
training data's definition, `train.examples.context_copies`), with each run's exact matches per group and
the paired change between two runs. Training data that holds few copies in one language (Python: 7-11%,
docs/training.md) can teach little of what that language's copy examples measure.

    .venv/bin/python runs/context_copy_rows.py RUN_A RUN_B [RUN_A2 RUN_B2 ...]

Each RUN is an evaluation folder (config.json, results.jsonl) of a `crossfile-LANG-retrieved` task; its
prompts are rebuilt from its config (examples, prompt budgets, context settings), no model runs. Pairs
(A, B) of the same task and examples are pooled, an example that two samples share counted once; B − A per
group with a 95% bootstrap over examples
(1,000 resamples, seed 0).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

from nanocomplete import models, prompt
from nanocomplete.config import ContextConfig, PromptConfig
from nanocomplete.engine import Tokenizer
from nanocomplete.evals import tasks
from nanocomplete.evals.runner import RetrievedContext
from nanocomplete.train.examples import context_copies

RESAMPLES = 1000


def copy_ids(run: Path, tokenizer: Tokenizer) -> dict[str, bool]:
    """Example id → whether its reference line is a context copy in the run's own prompt."""
    config = json.loads((run / "config.json").read_text())
    # the context settings a run records are these two fields and the module's LANGUAGE_SHARES (`shares`)
    task = tasks.get_task(config["task"])
    examples = tasks.examples_for(task, config["limit"], config["seed"], leave_out=config.get("leave_out"))
    context = ContextConfig(
        context_sources=config["context"]["context_sources"],
        near_cursor_lines=config["context"]["near_cursor_lines"],
    )
    layout = PromptConfig(**config["prompt"])
    provider = RetrievedContext("retrieved", context, tokenizer.tokenize, layout.max_context_tokens)
    found = {}
    for example in examples:
        with_context, _ = provider(example)
        fim_input = with_context.fim_input()
        built = prompt.build(fim_input, tokenizer.tokenize, layout)
        copies = context_copies(example.reference, example.prefix, example.suffix, built, fim_input)
        found[example.id] = bool(copies)
    return found


def exact(run: Path) -> dict[str, float]:
    rows = map(json.loads, (run / "results.jsonl").read_text().splitlines())
    return {row["id"]: row["scores"]["em"] for row in rows}


def interval(changes: list[float]) -> tuple[float, float]:
    rng = random.Random(0)
    means = sorted(sum(rng.choices(changes, k=len(changes))) / len(changes) for _ in range(RESAMPLES))
    return means[int(0.025 * RESAMPLES)], means[int(0.975 * RESAMPLES) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="RUN_A RUN_B [RUN_A2 RUN_B2 ...]")
    runs = parser.parse_args().runs
    if len(runs) % 2:
        parser.error("give the runs in pairs: A B [A2 B2 ...]")
    tokenizer = Tokenizer(models.resolve(models.DEFAULT_MODEL))
    pooled: dict[str, tuple[bool, float, float]] = {}  # example id → (a copy?, A's EM, B's EM), once each
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        copies, first, second = copy_ids(Path(a), tokenizer), exact(Path(a)), exact(Path(b))
        if not set(copies) == set(first) == set(second):
            parser.error(f"{a} and {b} are not runs of the same examples")
        for example_id, is_copy in copies.items():
            pooled[example_id] = (is_copy, first[example_id], second[example_id])
    groups: dict[bool, list[tuple[float, float]]] = defaultdict(list)
    for is_copy, em_a, em_b in pooled.values():
        groups[is_copy].append((em_a, em_b))
    print("| reference line | examples | A: EM | B: EM | B − A (95% bootstrap) | worse / better |")
    print("|---|---|---|---|---|---|")
    for is_copy in (True, False):
        pairs = groups[is_copy]
        if not pairs:
            continue
        changes = [b - a for a, b in pairs]
        low, high = interval(changes)
        mean_a, mean_b = (sum(p[i] for p in pairs) / len(pairs) for i in (0, 1))
        name = "a context copy" if is_copy else "no context copy"
        moved = f"{sum(c < 0 for c in changes)} / {sum(c > 0 for c in changes)}"
        print(
            f"| {name} | {len(pairs)} | {mean_a:.3f} | {mean_b:.3f} | "
            f"{mean_b - mean_a:+.3f} [{low:+.3f}, {high:+.3f}] | {moved} |"
        )


if __name__ == "__main__":
    main()
