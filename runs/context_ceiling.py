"""How many of the examples that need a name from another file any run ever matched exactly: the ceiling
of what cross-file context has shown it can win on the context study's 200 `cross_file_first` examples.

    .venv/bin/python runs/context_ceiling.py python|typescript

Reads every `out/eval/xf-LANG-*` run; prints, per run, how many of the name-needing examples it covers and
matches, then the union of the matches.
"""

import json
import sys
from pathlib import Path

from nanocomplete.evals import coverage, tasks


def main(language: str) -> None:
    task = tasks.get_task(f"crossfile-{language}-retrieved")
    examples = tasks.examples_for(task, 200, 0, "cross_file_first")
    defined = coverage.DefinedNames()
    needing = {e.id for e in examples if coverage.needed_names(e, defined(e.meta["package"]))}
    print(f"{len(needing)} of {len(examples)} examples need a name from another file")
    matched: set[str] = set()
    for results in sorted(Path("out/eval").glob(f"xf-{language}-*/results.jsonl")):
        rows = [json.loads(line) for line in results.read_text().splitlines()]
        covered = {r["id"] for r in rows} & needing
        if not covered:
            continue
        hits = {r["id"] for r in rows if r["scores"]["em"] and r["id"] in needing}
        matched |= hits
        print(f"{results.parent.name}: {len(hits)} of the {len(covered)} it ran")
    print(f"matched by any run: {len(matched)} of {len(needing)}")


if __name__ == "__main__":
    main(sys.argv[1])
