"""Which outputs of a finished evaluation run token healing's constraint can change: those whose raw
output does not begin with the whitespace the healed prompt left out (`Engine.generate`'s required_start
holds the first tokens to it since 2026-12-01). Run it on a run made before that (with
--heal-trailing-whitespace); the others are unchanged by construction (greedy decoding, the same prompt).
Usage: .venv/bin/python runs/heal_agreement.py RUN_DIR...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nanocomplete.evals import tasks


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(run_dirs: list[str]) -> int:
    for run in map(Path, run_dirs):
        config = json.loads((run / "config.json").read_text())
        examples = {e.id: e for e in tasks.get_task(config["task"]).load()}
        scores = {r["id"]: r["scores"] for r in jsonl(run / "results.jsonl") if not r["error"]}
        changed = []
        for sample in jsonl(run / "samples.jsonl"):
            example = tasks.with_cursor(examples[sample["id"]], config["cursor"])
            line = example.prefix.rpartition("\n")[2]
            healed = line[len(line.rstrip(" \t")) :]
            if not sample["raw"].startswith(healed):
                changed.append(sample["id"])
        em = sum(scores[i]["em"] for i in changed if i in scores)
        print(
            f"{run}: {len(changed)} of {len(scores)} outputs disagree with the healed whitespace "
            f"(EM {em:.0f} of them now); the constraint can move EM by at most "
            f"{len(changed) / max(1, len(scores)):.3f}: {', '.join(changed[:8])}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
