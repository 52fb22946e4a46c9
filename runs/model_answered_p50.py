"""#21's p50 criterion over the requests the model answers: ours ÷ the peer's median latency of model-answered
requests, on the visits both arms have, with a 95% bootstrap interval over visits (1,000 resamples, seed 0).
`bench replay --pair` gives the per-visit statistic over all requests (result-cache answers included).
Usage: .venv/bin/python runs/model_answered_p50.py OURS_ARM_DIR[,MORE] PEER_ARM_DIR[,MORE]
"""

from __future__ import annotations

import gzip
import json
import random
import statistics
import sys
from pathlib import Path

RESAMPLES = 1000


def model_answered(arm_dirs: str) -> list[dict]:
    """The model-answered requests of comma-separated arm folders (their requests.jsonl.gz)."""
    rows = []
    for arm in arm_dirs.split(","):
        with gzip.open(Path(arm) / "requests.jsonl.gz", "rt") as lines:
            rows += [row for row in map(json.loads, lines) if row["model_answered"]]
    return rows


def visit(row: dict) -> tuple[str, int]:
    return row["repo"], row["visit"]


def ratio(ours: list[dict], peer: list[dict], visits: list[tuple[str, int]]) -> float:
    """Median latency of ours ÷ the peer's over `visits` (a visit drawn twice counts twice)."""
    count = {v: visits.count(v) for v in set(visits)}
    mine = [r["latency_ms"] for r in ours for _ in range(count.get(visit(r), 0))]
    theirs = [r["latency_ms"] for r in peer for _ in range(count.get(visit(r), 0))]
    return statistics.median(mine) / statistics.median(theirs)


def main(ours_dirs: str, peer_dirs: str) -> None:
    ours, peer = model_answered(ours_dirs), model_answered(peer_dirs)
    visits = sorted(set(map(visit, ours)) & set(map(visit, peer)))
    rng = random.Random(0)
    draws = sorted(ratio(ours, peer, rng.choices(visits, k=len(visits))) for _ in range(RESAMPLES))
    low, high = draws[int(0.025 * RESAMPLES)], draws[int(0.975 * RESAMPLES) - 1]
    print(
        f"model-answered latency p50, ours ÷ peer: {ratio(ours, peer, visits):.2f} [{low:.2f}, {high:.2f}]"
        f" over {len(visits)} visits ({len(ours)} / {len(peer)} model-answered requests)"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
