"""#21's p50 criterion over the requests the model answers: ours ÷ the peer's median latency of model-answered
requests, on the visits both arms have, with a 95% bootstrap interval over visits (1,000 resamples, seed 0).
`bench replay --pair` gives the per-visit statistic over all requests (result-cache answers included).
Where the records keep the servers' timings (replays since 2026-12-05), it also prints each arm's medians of
the parts of a model-answered request: prompt evaluation, generation and tokens generated.
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


PARTS = {  # the median parts of a model-answered request, in each server's own words
    "prompt ms": ("prompt_ms", "prompt_ms"),
    "generation ms": ("generation_ms", "predicted_ms"),
    "tokens generated": ("tokens_generated", "predicted_n"),
}


def parts(rows: list[dict], side: int) -> str:
    timed = [row["timings"] for row in rows if row.get("timings")]
    if not timed:
        return "no timings in these records"
    medians = {name: [t[keys[side]] for t in timed if keys[side] in t] for name, keys in PARTS.items()}
    return ", ".join(f"{name} {statistics.median(values):.0f}" for name, values in medians.items() if values)


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
    print(f"ours, medians: {parts(ours, 0)}")
    print(f"peer, medians: {parts(peer, 1)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
