"""What reading the next token from the logits costs at every generated token (`Engine._sample`), the way it
is done now (float32 logits, the sum of exponentials in float64) against the way it was until 2026-12-01
(every logit converted to float64 first), beside what one decode of one token costs on the same engine.
Both read the same real logits (Qwen's 151,936), alternating.
Usage: .venv/bin/python runs/logits_cost.py [--model M] [--threads 1] [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nanocomplete import machine
from nanocomplete.config import EngineConfig, GenerationConfig
from nanocomplete.engine import Engine, _logprob


def token_before(logits32: np.ndarray) -> tuple[int, float]:
    """As it was: float64 logits, then a full log-probability vector."""
    logits = logits32.astype(np.float64)
    peak = float(logits.max())
    logprobs = logits - (peak + float(np.log(np.exp(logits - peak).sum())))
    token = int(np.argmax(logits))
    return token, float(logprobs[token])


def token_now(logits32: np.ndarray) -> tuple[int, float]:
    token = int(np.argmax(logits32))
    return token, _logprob(logits32, token)


def seconds(function, logits: np.ndarray) -> float:
    started = time.perf_counter()
    function(logits)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="nanocomplete-0.5b")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    engine = Engine.for_model(args.model, EngineConfig(threads=args.threads))
    prompt = engine.tokenize("def fibonacci(n: int) -> int:\n    ")
    generation = engine.generate(prompt, GenerationConfig(max_tokens=32))
    logits = engine._last_logits()
    before, now = token_before(logits), token_now(logits)
    assert before[0] == now[0] and abs(before[1] - now[1]) < 1e-5, (before, now)
    pairs = [(seconds(token_before, logits), seconds(token_now, logits)) for _ in range(args.repeats)]
    before_ms = statistics.median(b for b, _ in pairs) * 1000
    now_ms = statistics.median(n for _, n in pairs) * 1000
    decode_ms = generation.timings.generation_ms / max(1, generation.timings.tokens_generated)
    print(f"{machine.description()}; {args.model}, {args.threads} thread(s), {args.repeats} repeats")
    print(f"reading the next token: before {before_ms:.2f} ms, now {now_ms:.2f} ms (median)")
    print(f"one generated token, decode and reading (now): {decode_ms:.1f} ms")
    print(f"log-probability difference: {abs(before[1] - now[1]):.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
