"""Cross-file next-line examples split by whether the reference line is a context copy (an identifier of at
least three characters that the prompt's cross-file context shows and its in-file text does not: the
training data's definition, `train.examples.context_copies`), or with `--by setting` by the benchmark's
setting (`evals/crossfile_examples.py`: cross_file_first, the first use of a name imported from another
file of the package; cross_file_random, a later line that uses such a name; in_file, a line that uses
none), with each run's mean score per group (exact match by default, `--metric es` for edit similarity) and
the paired change between two runs. Training data that holds few copies in one language (Python: 7-11%,
docs/training.md) can teach little of what that language's copy examples measure.

    .venv/bin/python runs/context_copy_rows.py [--metric em|es] [--by copy|setting] \\
        RUN_A RUN_B [RUN_A2 RUN_B2 ...]

Each RUN is an evaluation folder (config.json, results.jsonl) of a `crossfile-LANG-retrieved` task; its
prompts are rebuilt from its config (examples, prompt budgets, context settings), no model runs. Pairs
(A, B) of the same task and examples are pooled, an example that two samples share counted once (where
`nanocomplete compare` would count it twice); B − A per group and over all examples with
`metrics.paired_difference`, the statistic `nanocomplete compare` prints (a 95% bootstrap over examples).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from nanocomplete import models, prompt
from nanocomplete.config import ContextConfig, PromptConfig
from nanocomplete.engine import Tokenizer
from nanocomplete.evals import tasks
from nanocomplete.evals.metrics import paired_difference
from nanocomplete.evals.runner import RetrievedContext
from nanocomplete.train.examples import context_copies

GROUPS = {  # the rows of each `--by`, in order
    "copy": ("a context copy", "no context copy"),
    "setting": ("cross_file_first", "cross_file_random", "cross-file", "in_file"),
}


def copy_groups(run: Path, tokenizer: Tokenizer) -> dict[str, tuple[str, ...]]:
    """Example id → its group: whether its reference line is a context copy in the run's own prompt."""
    return {
        example_id: ("a context copy" if is_copy else "no context copy",)
        for example_id, is_copy in copy_ids(run, tokenizer).items()
    }


def setting_groups(run: Path) -> dict[str, tuple[str, ...]]:
    """Example id → its groups: its setting, and `cross-file` for both cross-file settings."""
    rows = map(json.loads, (run / "results.jsonl").read_text().splitlines())
    return {
        row["id"]: (row["setting"], "cross-file")
        if row["setting"].startswith("cross_file")
        else (row["setting"],)
        for row in rows
    }


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


def scores(run: Path, metric: str) -> dict[str, float]:
    rows = map(json.loads, (run / "results.jsonl").read_text().splitlines())
    return {row["id"]: row["scores"][metric] for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metric", choices=("em", "es"), default="em")
    parser.add_argument(
        "--by", choices=("copy", "setting"), default="copy",
        help="the groups: context copy or not (default), or the benchmark's setting, with the two cross-file "
        "settings together as `cross-file`",
    )  # fmt: skip
    parser.add_argument("runs", nargs="+", help="RUN_A RUN_B [RUN_A2 RUN_B2 ...]")
    args = parser.parse_args()
    runs, metric = args.runs, args.metric
    if len(runs) % 2:
        parser.error("give the runs in pairs: A B [A2 B2 ...]")
    tokenizer = Tokenizer(models.resolve(models.DEFAULT_MODEL)) if args.by == "copy" else None
    pooled: dict[
        str, tuple[tuple[str, ...], float, float]
    ] = {}  # id → (its groups, A's, B's score), once each
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        found = copy_groups(Path(a), tokenizer) if tokenizer else setting_groups(Path(a))
        first, second = scores(Path(a), metric), scores(Path(b), metric)
        if not set(found) == set(first) == set(second):
            parser.error(f"{a} and {b} are not runs of the same examples")
        for example_id, names in found.items():
            pooled[example_id] = (names, first[example_id], second[example_id])
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for names, score_a, score_b in pooled.values():
        for name in (*names, "all"):
            groups[name].append((score_a, score_b))
    label = {"copy": "reference line", "setting": "setting"}[args.by]
    print(f"| {label} | examples | A: {metric} | B: {metric} | B − A (95% bootstrap) | worse / better |")
    print("|---|---|---|---|---|---|")
    for name in (*GROUPS[args.by], "all"):
        if not groups[name]:
            continue
        a_scores, b_scores = (list(side) for side in zip(*groups[name], strict=True))
        change, n = paired_difference(a_scores, b_scores), len(a_scores)
        print(
            f"| {name} | {n} | {sum(a_scores) / n:.3f} | {sum(b_scores) / n:.3f} | "
            f"{change['difference']:+.3f} [{change['low']:+.3f}, {change['high']:+.3f}] | "
            f"{change['a_wins']} / {change['b_wins']} |"
        )


if __name__ == "__main__":
    main()
