"""Which target names the prompt's prefix window cuts off: for each of the context study's 200
`cross_file_first` examples, are the target line's identifiers visible in the prompt (the prefix window and
the suffix), in the file but cut off by the window (an import at the top of a long file), or only in other
files? Then each group's exact matches in the given runs.

    .venv/bin/python runs/context_hidden_names.py python|typescript [--leave-out 200] [RUN...]

The window is the one the study's prompts use (512 prefix / 128 suffix tokens, the trained model's
tokenizer). It found the header source (docs/results.md, "The document's own imports").
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

from nanocomplete import fim, models, prompt
from nanocomplete.config import PromptConfig
from nanocomplete.engine import Tokenizer
from nanocomplete.evals import coverage, tasks

WINDOW = PromptConfig(max_prefix_tokens=512, max_suffix_tokens=128)


def group_of(example, tokenizer: Tokenizer, defined: set[str]) -> str:
    built = prompt.build(example.fim_input(), tokenizer.tokenize, WINDOW)
    start = built.tokens.index(fim.FIM_SUFFIX) + 1
    shown = "\n".join(example.prefix.split("\n")[built.prefix_start_line :])
    shown += tokenizer.detokenize(built.tokens[start : start + built.suffix_tokens])
    visible = set(coverage.NAME.findall(shown))
    in_file = set(coverage.NAME.findall(example.prefix + example.suffix))
    target = coverage.NAME.findall(example.reference)
    if any(name not in in_file and name in defined for name in target):
        return "needs a name from another file"
    if any(name not in visible and name in in_file for name in target):
        return "needs a name the window cuts off"
    return "every name visible"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("language")
    parser.add_argument("runs", nargs="*")
    parser.add_argument("--leave-out", type=int, default=0)
    args = parser.parse_intermixed_args()
    tokenizer = Tokenizer(models.resolve("nanocomplete-0.5b"))
    task = tasks.get_task(f"crossfile-{args.language}-retrieved")
    examples = tasks.examples_for(task, 200, 0, "cross_file_first", leave_out=args.leave_out)
    defined = coverage.DefinedNames()
    groups: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        groups[group_of(example, tokenizer, defined(example.meta["package"]))].append(example.id)
    runs = {}
    for run in args.runs:
        rows = [json.loads(line) for line in (Path(run) / "results.jsonl").read_text().splitlines()]
        runs[Path(run).name] = {row["id"]: row["scores"]["em"] for row in rows}
    print("| group | examples | " + " | ".join(runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for group, ids in sorted(groups.items()):
        matched = [str(int(sum(run.get(i, 0) for i in ids))) for run in runs.values()]
        print(f"| {group} | {len(ids)} | " + " | ".join(matched) + " |")


if __name__ == "__main__":
    main()
