"""The replay's requests made right before auto-closed characters (the rest of the line is what the editor
closed: `typist.auto_closed` of the typed line), in two arms of the same sessions: how many prompt tokens
they evaluated and how long they took, and the tokens evaluated per visit over all requests, paired by visit
(95% bootstrap). Usage: .venv/bin/python runs/auto_closed_replay.py ARM_A_DIR ARM_B_DIR (e.g.
out/bench/r1-ts-kept/served out/bench/r1-ts-skipped/served)."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from nanocomplete import replay, typist


def requests(arm: Path) -> list[dict]:
    return replay.read_requests(arm)


def before_closers(rows: list[dict]) -> list[dict]:
    return [
        r
        for r in rows
        if r["model_answered"] and r["kind"] == "mid_line" and typist.auto_closed(r["line_prefix"])
    ]


def describe(rows: list[dict]) -> str:
    tokens = np.array([r["prompt_tokens_evaluated"] for r in rows])
    latency = np.array([r["latency_ms"] for r in rows])
    return (
        f"n={len(rows)}; tokens evaluated p50 {np.median(tokens):.0f}, p95 {np.percentile(tokens, 95):.0f}, "
        f"mean {tokens.mean():.0f}; latency p50 {np.median(latency):.0f} ms, "
        f"p95 {np.percentile(latency, 95):.0f} ms"
    )


def per_visit_tokens(rows: list[dict]) -> dict[tuple[str, int], int]:
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for r in rows:
        totals[(r["repo"], r["visit"])] += r["prompt_tokens_evaluated"]
    return totals


def paired_ratio(a: dict, b: dict, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    keys = sorted(set(a) & set(b))
    x, y = np.array([a[k] for k in keys], float), np.array([b[k] for k in keys], float)
    rng = np.random.default_rng(seed)
    draws = [
        y[i].sum() / x[i].sum() for i in (rng.integers(0, len(keys), len(keys)) for _ in range(resamples))
    ]
    return y.sum() / x.sum(), *np.percentile(draws, [2.5, 97.5])


def main(a_dir: str, b_dir: str) -> None:
    a, b = requests(Path(a_dir)), requests(Path(b_dir))
    for name, rows in ((a_dir, a), (b_dir, b)):
        print(f"{name}: mid-line requests before auto-closed characters: {describe(before_closers(rows))}")
        evaluated = sum(r["prompt_tokens_evaluated"] for r in rows)
        print(f"  all requests: {len(rows)}, prompt tokens evaluated {evaluated}")
    ratio, low, high = paired_ratio(per_visit_tokens(a), per_visit_tokens(b))
    print(f"prompt tokens evaluated per visit, B / A: {ratio:.2f} [{low:.2f}, {high:.2f}] (paired by visit)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
