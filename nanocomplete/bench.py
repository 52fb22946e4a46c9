"""Benchmarks (scripts, not tests). `nanocomplete bench engine` measures the engine alone:

- prompt evaluation speed on a cold cache at several prompt sizes (tokens/s, median of `repeats`);
- generation speed (tokens/s over up to 64 greedy tokens after a 128-token prompt);
- the cost of a warm request: a 2,048-token prompt already cached plus 8 new tokens.

The prompt text is real code nobody here wrote: llama-cpp-python's own `llama.py` (pinned version).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from nanocomplete import machine
from nanocomplete.config import EngineConfig, GenerationConfig
from nanocomplete.engine import Engine, build_features

GENERATION_PROMPT_TOKENS = 128
GENERATION_TOKENS = 64
WARM_BASE_TOKENS = 2048
WARM_NEW_TOKENS = 8


@dataclass(frozen=True)
class EngineSpeed:
    model: str
    load_ms: float
    prompt_tokens_per_s: dict[int, float]
    generation_tokens_per_s: float
    warm_request_ms: float  # evaluate WARM_NEW_TOKENS after WARM_BASE_TOKENS cached ones


def engine_speed(name: str, config: EngineConfig, prompt_sizes: list[int], repeats: int) -> EngineSpeed:
    started = time.perf_counter()
    engine = Engine.for_model(name, config)
    load_ms = (time.perf_counter() - started) * 1000
    code = engine.tokenize(_reference_code())
    prompt_speed = {size: _prompt_speed(engine, code[:size], repeats) for size in prompt_sizes}
    return EngineSpeed(
        model=name,
        load_ms=load_ms,
        prompt_tokens_per_s=prompt_speed,
        generation_tokens_per_s=_generation_speed(engine, code[:GENERATION_PROMPT_TOKENS], repeats),
        warm_request_ms=_warm_request_ms(engine, code[: WARM_BASE_TOKENS + WARM_NEW_TOKENS], repeats),
    )


def _reference_code() -> str:
    import llama_cpp

    return (Path(llama_cpp.__file__).parent / "llama.py").read_text(encoding="utf-8")


def _prompt_speed(engine: Engine, tokens: list[int], repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        engine.reset()
        started = time.perf_counter()
        engine.prefill(tokens)
        rates.append(len(tokens) / (time.perf_counter() - started))
    return statistics.median(rates)


def _generation_speed(engine: Engine, prompt: list[int], repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        engine.reset()
        result = engine.generate(prompt, GenerationConfig(max_tokens=GENERATION_TOKENS))
        rates.append(result.timings.tokens_generated / (result.timings.generation_ms / 1000))
    return statistics.median(rates)


def _warm_request_ms(engine: Engine, tokens: list[int], repeats: int) -> float:
    base = tokens[:WARM_BASE_TOKENS]
    times = []
    for _ in range(repeats):
        engine.prefill(base)
        started = time.perf_counter()
        evaluated, _ = engine.prefill(tokens)
        times.append((time.perf_counter() - started) * 1000)
        assert evaluated == len(tokens) - len(base), evaluated
    return statistics.median(times)


def machine_description() -> str:
    """The machine (CPU model and SIMD flags) and the llama.cpp build that ran a benchmark."""
    return f"{machine.description()}; {build_features()}"


def engine_table(rows: list[EngineSpeed], prompt_sizes: list[int]) -> str:
    sizes = " / ".join(f"pp{size}" for size in prompt_sizes)
    lines = [
        f"machine: {machine_description()}",
        "",
        f"| model | load ms | prompt eval tok/s ({sizes}) | generation tok/s | "
        f"warm request: {WARM_NEW_TOKENS} new tokens after {WARM_BASE_TOKENS} cached (ms) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        speeds = " / ".join(f"{row.prompt_tokens_per_s[size]:.0f}" for size in prompt_sizes)
        lines.append(
            f"| {row.model} | {row.load_ms:.0f} | {speeds} | {row.generation_tokens_per_s:.1f} | "
            f"{row.warm_request_ms:.0f} |"
        )
    return "\n".join(lines)


# --- context selection -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextSpeed:
    files: int
    index_s: float
    refresh_unchanged_s: float
    selections: int
    select_ms_p50: float  # a request on a file as indexed (the document's imports come from the index)
    select_ms_p95: float
    typing_ms_p50: float  # the next keystrokes there: the buffer differs from the index, so it is reparsed
    typing_ms_p95: float
    context_tokens_median: float


TYPED_KEYSTROKES = 3  # keystrokes timed after each request


def context_speed(root: Path, tokenize, budget_tokens: int, requests: int, seed: int = 0) -> ContextSpeed:
    """Index `root`, then time context selection at `requests` random cursor positions in its files, and
    for the keystrokes typed at each of them."""
    import random

    from nanocomplete import context
    from nanocomplete.config import ContextConfig
    from nanocomplete.evals.metrics import p95
    from nanocomplete.index import WorkspaceIndex
    from nanocomplete.prompt import FimInput

    index = WorkspaceIndex(root)
    stats = index.refresh()
    again = index.refresh()
    rng, keys = random.Random(seed), random.Random(seed + 1)  # keys apart: the same cursors as without typing
    paths = sorted(index.workspace.files)
    times, typing, tokens = [], [], []

    def timed(prefix: str, suffix: str, path: str) -> tuple[float, int]:
        started = time.perf_counter()
        _, selection = context.attach(
            FimInput(prefix, suffix, path), index.workspace, tokenize, budget_tokens, ContextConfig()
        )
        return (time.perf_counter() - started) * 1000, selection.tokens

    for _ in range(requests):
        path = rng.choice(paths)
        text = index.workspace.files[path].text
        cut = rng.randrange(len(text) + 1)
        elapsed_ms, selected = timed(text[:cut], text[cut:], path)
        times.append(elapsed_ms)
        tokens.append(selected)
        typed = ""
        for _ in range(TYPED_KEYSTROKES):
            typed += keys.choice("abcdefghijklmnopqrstuvwxyz_.(")
            typing.append(timed(text[:cut] + typed, text[cut:], path)[0])
    return ContextSpeed(
        stats.files, stats.seconds, again.seconds, requests, statistics.median(times), p95(times),
        statistics.median(typing), p95(typing), statistics.median(tokens),
    )  # fmt: skip
