"""What copying a KV snapshot out of llama.cpp costs (`Engine.snapshot`), the way it is done now against the
way it was done until 2026-12-01 (slicing the ctypes array: a Python list of ints, then bytes). The
scheduler takes a snapshot of the document it leaves before it runs a request on another, so this is
paid in a completion's latency at a file switch, and its peak memory adds to the server's.
Measures, on the same KV state, alternating: seconds per copy and Python's peak allocation (tracemalloc).
Usage: .venv/bin/python runs/snapshot_cost.py [--model M] [--tokens 2000] [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time
import tracemalloc
from pathlib import Path

from nanocomplete import machine
from nanocomplete.config import EngineConfig
from nanocomplete.engine import Engine

ROOT = Path(__file__).resolve().parent.parent


def copy_by_slice(engine: Engine) -> bytes:
    """The copy as it was: `bytes(buffer[:written])`."""
    import llama_cpp

    ctx = engine._llama._ctx.ctx
    size = llama_cpp.llama_state_seq_get_size(ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
    return bytes(buffer[:written])


def copy_now(engine: Engine) -> bytes:
    return engine.snapshot().data


def measured(copy, engine: Engine) -> tuple[float, float, int]:
    """(seconds, peak MiB allocated by Python during the copy, bytes copied)."""
    tracemalloc.start()
    started = time.perf_counter()
    data = copy(engine)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, len(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="nanocomplete-0.5b")
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    engine = Engine.for_model(args.model, EngineConfig(threads=args.threads))
    text = "".join(path.read_text() for path in sorted((ROOT / "nanocomplete").glob("*.py")))
    tokens = engine.tokenize(text)[: args.tokens]
    engine.prefill(tokens)
    assert copy_now(engine) == copy_by_slice(engine), "the two copies differ"
    rows = {"slice (before)": [], "string_at (now)": []}
    for _ in range(args.repeats):  # alternating, so that a busy moment hits both
        rows["slice (before)"].append(measured(copy_by_slice, engine))
        rows["string_at (now)"].append(measured(copy_now, engine))
    size_mib = rows["string_at (now)"][0][2] / 2**20
    cached = f"{args.model}, {len(tokens)} tokens cached: {size_mib:.1f} MiB of KV state"
    print(f"{machine.description()}; {cached}")
    for name, runs in rows.items():
        seconds = statistics.median(run[0] for run in runs)
        peak = max(run[1] for run in runs)
        copies = f"Python peak {peak:.0f} MiB ({args.repeats} copies)"
        print(f"{name}: median {seconds * 1000:.0f} ms per copy, {copies}")
    pairs = zip(rows["slice (before)"], rows["string_at (now)"], strict=True)
    ratios = [old[0] / new[0] for old, new in pairs]
    print(f"before / now, paired: median {statistics.median(ratios):.1f}x (min {min(ratios):.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
