"""#21: warm-ups that stop inside a batch (`Engine.prefill(interruptible=True)`, llama.cpp's abort callback).
Measures what the callback costs a warm-up (evaluation time with it against without, alternating, paired)
and how late a stop (`Engine.interrupt()`) lands after it is asked for (against one batch's time, what a
completion used to wait at worst). `--busy-python-thread` keeps another Python thread spinning meanwhile,
as the workspace indexer does during warm-ups: a callback that called Python at each graph node waited for
the GIL there (1.96x at commit 3d1fd30); the callback is now C reading a flag (`engine.AbortFlag`).
Usage: .venv/bin/python runs/warm_abort.py [--model M] [--threads 1] [--repeats 6] [--tokens 512]
       [--busy-python-thread]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

import numpy as np

from nanocomplete import machine
from nanocomplete.config import EngineConfig
from nanocomplete.engine import Engine
from nanocomplete.errors import Cancelled
from nanocomplete.scheduler import WARM_BATCH_TOKENS

ROOT = Path(__file__).resolve().parent.parent


def timed_prefill(engine: Engine, tokens: list[int], interruptible: bool) -> float:
    engine.reset()
    started = time.perf_counter()
    engine.prefill(tokens, lambda: False, WARM_BATCH_TOKENS, interruptible=interruptible)
    return time.perf_counter() - started


def stop_lateness_s(engine: Engine, tokens: list[int], after_s: float) -> float:
    """Seconds from asking a warm-up to stop (`after_s` into it) to its Cancelled."""
    engine.reset()
    asked = []
    threading.Timer(after_s, lambda: (asked.append(time.perf_counter()), engine.interrupt())).start()
    try:
        engine.prefill(tokens, None, WARM_BATCH_TOKENS, interruptible=True)
    except Cancelled:
        return time.perf_counter() - asked[0]
    raise SystemExit("the warm-up ended before the stop: use more --tokens")


def _spin() -> None:
    count = 0
    while True:
        count += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="nanocomplete-0.5b")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--busy-python-thread", action="store_true")
    args = parser.parse_args()
    if args.busy_python_thread:
        threading.Thread(target=_spin, daemon=True).start()
    engine = Engine.for_model(args.model, EngineConfig(threads=args.threads))
    tokens = engine.tokenize((ROOT / "nanocomplete" / "service.py").read_text())[: args.tokens]
    ratios = []
    for _ in range(args.repeats):  # alternating, so that a busy moment hits both
        plain, with_callback = timed_prefill(engine, tokens, False), timed_prefill(engine, tokens, True)
        ratios.append(with_callback / plain)
    rng = np.random.default_rng(0)
    draws = [np.median(rng.choice(ratios, len(ratios))) for _ in range(2000)]
    batch_s = timed_prefill(engine, tokens[:WARM_BATCH_TOKENS], False)
    late = [stop_lateness_s(engine, tokens, batch_s * (1.5 + i / 4)) for i in range(args.repeats)]
    run = f"{args.model}, {args.threads} thread(s), {len(tokens)} tokens in batches of {WARM_BATCH_TOKENS}"
    busy = ", another Python thread busy" if args.busy_python_thread else ""
    print(f"{machine.description()}; {run}, {args.repeats} repeats{busy}")
    low, high = np.percentile(draws, [2.5, 97.5])
    print(f"with the callback / without: median {statistics.median(ratios):.3f} [{low:.3f}, {high:.3f}]")
    lateness = f"median {statistics.median(late) * 1000:.1f} ms, max {max(late) * 1000:.1f} ms"
    print(f"one batch: {batch_s * 1000:.0f} ms; a stop lands after it is asked for: {lateness}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
