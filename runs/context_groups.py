"""Exact matches without and with context, by whether an example needs names from other files and whether
the context shows them (the "Where the context helps" table of docs/results.md).

    .venv/bin/python runs/context_groups.py LANGUAGE NONE_RUN CONTEXT_RUN [SOURCES] [BUDGET]

NONE_RUN and CONTEXT_RUN are scored run directories of the same examples (seed 0, cross_file_first);
SOURCES (default import,recent,similar) and BUDGET (default 512) must be the context run's.
"""

import json
import sys
from pathlib import Path

from nanocomplete import models
from nanocomplete.config import ContextConfig
from nanocomplete.engine import Tokenizer
from nanocomplete.evals import coverage, tasks
from nanocomplete.evals.runner import RetrievedContext


def exact(run: str) -> dict[str, float]:
    lines = (Path(run) / "results.jsonl").read_text().splitlines()
    return {r["id"]: r["scores"]["em"] for r in map(json.loads, lines)}


def main(language, none_run, context_run, sources="import,recent,similar", budget="512"):
    without, with_context = exact(none_run), exact(context_run)
    tokenize = Tokenizer(models.resolve(models.BASE_MODEL)).tokenize
    provider = RetrievedContext("retrieved", ContextConfig(context_sources=sources), tokenize, int(budget))
    defined = coverage.DefinedNames()
    groups: dict[str, list[str]] = {"needs no name": [], "needs names, all shown": [], "some not shown": []}
    task = tasks.get_task(f"crossfile-{language}-retrieved")
    for example in tasks.examples_for(task, len(with_context), 0, "cross_file_first"):
        needed = coverage.needed_names(example, defined(example.meta["package"]))
        shown_example, _ = provider(example)
        shown = set(coverage.NAME.findall("\n".join(f.text for f in shown_example.extra_files)))
        group = "needs no name" if not needed else "some not shown"
        if needed and all(name in shown for name in needed):
            group = "needs names, all shown"
        groups[group].append(example.id)
    for group, ids in groups.items():
        before, after = sum(without[i] for i in ids), sum(with_context[i] for i in ids)
        print(f"{group}: {len(ids)} examples, exact {before:.0f} -> {after:.0f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
