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
from nanocomplete.engine import Engine, build_features, common_prefix

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


# --- KV snapshots on disk --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreSpeed:
    prompt_tokens: int
    evaluate_ms: float  # evaluating the prompt on an empty KV cache (what a restart costs without disk)
    snapshot_mb: float
    write_ms: float  # the background write: checksum and atomic file
    read_ms: float  # reading the file and checking its checksum
    restore_ms: float  # loading the state into llama.cpp and evaluating the prompt's last token


def restore_speed(engine: Engine, prompt_sizes: list[int], repeats: int, folder: Path) -> list[RestoreSpeed]:
    """Per prompt size, medians of `repeats`: a restarted server's first request in a known file, read
    from its KV snapshot on disk, against evaluating the whole prompt (`kvcache.DiskSnapshots`)."""
    from nanocomplete.kvcache import DiskSnapshots

    code = engine.tokenize(_reference_code())
    rows = []
    for size in prompt_sizes:
        tokens, times = code[:size], {"evaluate": [], "write": [], "read": [], "restore": []}
        for _ in range(repeats):
            engine.reset()
            times["evaluate"].append(_timed_ms(lambda t=tokens: engine.prefill(t)))
            snapshot = engine.snapshot()
            store = DiskSnapshots(folder, engine.identity, 2**40)
            times["write"].append(
                _timed_ms(lambda s=snapshot, d=store: (d.save("file:///bench.py", s), d.flush()))
            )
            store.close()
            started = time.perf_counter()
            loaded = DiskSnapshots(folder, engine.identity, 2**40).load("file:///bench.py")
            times["read"].append((time.perf_counter() - started) * 1000)
            engine.reset()
            times["restore"].append(
                _timed_ms(lambda s=loaded, t=tokens: (engine.restore(s), engine.prefill(t)))
            )
        medians = {step: statistics.median(values) for step, values in times.items()}
        rows.append(
            RestoreSpeed(
                size,
                medians["evaluate"],
                len(snapshot.data) / 2**20,
                medians["write"],
                medians["read"],
                medians["restore"],
            )
        )
    return rows


def _timed_ms(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def restore_table(model: str, threads: int, rows: list[RestoreSpeed]) -> str:
    lines = [
        f"machine: {machine_description()}; model {model}; {threads} llama.cpp thread(s)",
        "",
        "| prompt tokens | evaluate on an empty cache (ms) | snapshot MB | write (ms, background) | "
        "read + checksum (ms) | restore + last token (ms) | evaluate ÷ (read + restore) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r.evaluate_ms / (r.read_ms + r.restore_ms)
        lines.append(
            f"| {r.prompt_tokens} | {r.evaluate_ms:.0f} | {r.snapshot_mb:.1f} | {r.write_ms:.0f} | "
            f"{r.read_ms:.0f} | {r.restore_ms:.0f} | {ratio:.0f}x |"
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
    context_share: float  # selections that brought any context (many cursors sit where none helps)


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
        sum(1 for t in tokens if t > 0) / len(tokens),
    )  # fmt: skip


# --- workspace indexing under load ------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexBench:
    root: str
    pairs: int
    baseline_ms: list[float]  # a completion outside any workspace, cold prompt
    first_ms: list[float]  # the first completion in the workspace (its indexing starts with it), cold prompt
    during_ms: list[float]  # a completion in another file while the indexing pass runs, cold prompt
    during_indexing: list[bool]  # whether the pass was still running when that completion finished
    after_ms: list[float]  # a completion in another file once the pass is over (the index in memory)
    first_minus_baseline_ms: dict
    during_minus_baseline_ms: dict
    after_minus_baseline_ms: dict
    pass_s: float
    files: int
    indexed_bytes: int
    capped_by: str | None
    estimated_mb: float
    traced_mb: float  # the index's allocations, measured by tracemalloc on a separate pass
    rss_before_mb: float
    rss_after_mb: float  # after the first pass (the model and its KV cache are in both)


BENCH_CODE = "def square_area(width, height):\n    '''The area of a square.'''\n    return "


def synthetic_tree(root: Path, files: int) -> None:
    """`files` small Python modules that import each other, 50 per folder and 500 per package."""
    for n in range(files):
        folder = root / f"pkg{n // 500}" / f"sub{(n // 50) % 10}"
        if n % 50 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        first = n - n % 50
        (folder / f"mod{n}.py").write_text(
            f"from pkg{n // 500}.sub{(n // 50) % 10}.mod{first} import f{first}\n\n\n"
            f"def f{n}(value_{n % 97}):\n    return f{first}(value_{n % 97}) + {n}\n"
        )


def index_under_load(engine: Engine, model_name: str, root: Path, config, pairs: int) -> IndexBench:
    """Completion latency beside the indexing of `root`, paired with a completion outside any workspace
    in the same run (the same code each time, every prompt evaluated from an empty cache), then the
    memory of the index: RSS of this process before and after the first pass, and tracemalloc on a
    separate pass."""
    import gc

    import psutil

    from nanocomplete.evals.metrics import paired_difference
    from nanocomplete.service import CompletionService

    process = psutil.Process()
    baseline, first, during, running, after = [], [], [], [], []
    rss_before = rss_after = 0.0
    index = None
    for pair in range(pairs):
        # reuse_kv=False: every prompt is evaluated from an empty cache, so that the same code costs the same
        service = CompletionService(engine, model_name, _serving_settings(), reuse_kv=False, index=config)
        baseline.append(_cold_completion_ms(service, f"file:///bench/outside{pair}.py", None))
        rss_before = rss_before or process.memory_info().rss / 2**20
        uri = f"file://{root}/nanocomplete-bench-{pair}.py"
        first.append(_cold_completion_ms(service, uri, str(root)))
        during.append(_cold_completion_ms(service, f"file:///bench/other{pair}.py", None))
        index = service.workspaces.get(str(root))
        running.append(index.running)
        while index.running:
            time.sleep(0.1)
        after.append(_cold_completion_ms(service, f"file:///bench/after{pair}.py", None))
        rss_after = rss_after or process.memory_info().rss / 2**20
        service.close()
        if pair < pairs - 1:
            del service, index
            gc.collect()
    traced_mb = _traced_index_mb(root, config)
    return IndexBench(
        str(root), pairs, baseline, first, during, running, after, paired_difference(baseline, first),
        paired_difference(baseline, during), paired_difference(baseline, after), index.last.seconds,
        index.last.files, index.indexed_bytes, index.last.capped_by, index.memory_bytes() / 2**20,
        traced_mb, rss_before, rss_after,
    )  # fmt: skip


def _serving_settings():
    from nanocomplete.completion import Settings
    from nanocomplete.config import SERVING_BASES

    return Settings(**SERVING_BASES)


def _cold_completion_ms(service, uri: str, workspace_root: str | None) -> float:
    from nanocomplete import api

    request = api.CompleteRequest(uri=uri, prefix=BENCH_CODE, suffix="\n", workspace_root=workspace_root)
    started = time.perf_counter()
    service.finish(service.submit(request))
    return (time.perf_counter() - started) * 1000


def _traced_index_mb(root: Path, config) -> float:
    import tracemalloc

    from nanocomplete.index import WorkspaceIndex

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        index = WorkspaceIndex(root, config)
        index.refresh()
        return (tracemalloc.get_traced_memory()[0] - before) / 2**20
    finally:
        tracemalloc.stop()


def index_table(result: IndexBench) -> str:
    def row(name: str, values: list[float]) -> str:
        return f"| {name} | {statistics.median(values):.0f} | {max(values):.0f} |"

    first, during = result.first_minus_baseline_ms, result.during_minus_baseline_ms
    after = result.after_minus_baseline_ms
    return "\n".join([
        f"machine: {machine_description()}",
        f"root: {result.root}; {result.pairs} pairs; pass {result.pass_s:.1f} s, {result.files} files, "
        f"{result.indexed_bytes / 1e6:.1f} MB of source, bound reached: {result.capped_by}",
        f"index memory: estimated {result.estimated_mb:.0f} MB, traced {result.traced_mb:.0f} MB; "
        f"process RSS {result.rss_before_mb:.0f} MB before the first pass, "
        f"{result.rss_after_mb:.0f} MB after",
        "",
        "| completion (cold prompt) | median ms | max ms |",
        "|---|---|---|",
        row("outside any workspace (baseline)", result.baseline_ms),
        row("first in the workspace (indexing starts)", result.first_ms),
        row("another file while the pass runs", result.during_ms),
        row("another file after the pass", result.after_ms),
        "",
        f"first − baseline: {first['difference']:+.0f} ms [{first['low']:+.0f}, {first['high']:+.0f}]; "
        f"during − baseline: {during['difference']:+.0f} ms [{during['low']:+.0f}, {during['high']:+.0f}]; "
        f"after − baseline: {after['difference']:+.0f} ms [{after['low']:+.0f}, {after['high']:+.0f}] "
        f"(mean over pairs, 95% paired bootstrap); the pass was still running for "
        f"{sum(result.during_indexing)} of {result.pairs} 'during' completions",
    ])  # fmt: skip


# --- speculative decoding --------------------------------------------------------------------------------

VERIFY_SIZES = (1, 2, 3, 5, 9)
VERIFY_CONTEXT_TOKENS = 2048


def verify_cost_ms(engine: Engine, repeats: int, sizes=VERIFY_SIZES) -> dict[int, float]:
    """Median wall time (ms) of one decode of n tokens (logits at every row, as a target verifies a draft
    of n − 1) after VERIFY_CONTEXT_TOKENS cached tokens of real code, for each n in `sizes`."""
    code = engine.tokenize(_reference_code())
    engine.reset()
    engine.prefill(code[:VERIFY_CONTEXT_TOKENS])
    after = code[VERIFY_CONTEXT_TOKENS:]
    return {n: statistics.median(engine.verify_ms(after[:n]) for _ in range(repeats)) for n in sizes}


@dataclass(frozen=True)
class SpeculativeSample:
    arm: str  # "target alone", "lookup k=4", "model k=4"
    tokens: int
    generation_ms: float  # drafting included
    end_to_end_ms: float  # the target's prompt evaluation + the draft model's + generation
    drafted: int
    accepted: int
    same_tokens: bool  # equal to the target alone's greedy tokens
    tie_margin: float | None  # where not: the target alone's top-2 log-prob gap at the first difference


def speculative_samples(
    target: Engine, prompts: list[list[int]], arms: dict[str, GenerationConfig]
) -> list[SpeculativeSample]:
    """Each prompt through the target alone and through each arm (a GenerationConfig with a draft). The
    target's prompt evaluation is timed once per prompt, on an empty cache, and counted in every arm's
    end-to-end time; a draft model's own prompt evaluation is timed once per prompt, on its empty cache,
    and counted in its arms (in a server, per-file KV reuse would spare both most of the time)."""
    samples = []
    for prompt in prompts:
        target.reset()
        prompt_ms = _timed_ms(lambda p=prompt: target.prefill(p))
        draft_prompt_ms = 0.0
        if target.draft_engine is not None:
            target.draft_engine.reset()
            draft_prompt_ms = _timed_ms(lambda p=prompt: target.draft_engine.prefill(p))
        plain = target.generate(prompt, GenerationConfig())
        samples.append(_sample("target alone", plain, prompt_ms, None))
        for name, generation in arms.items():
            result = target.generate(prompt, generation)
            extra = draft_prompt_ms if generation.draft == "model" else 0.0
            margin = None
            if result.token_ids != plain.token_ids:
                margin = tie_margin(target, prompt, plain.token_ids, result.token_ids)
            samples.append(_sample(name, result, prompt_ms + extra, margin))
    return samples


def tie_margin(target: Engine, prompt: list[int], plain: tuple[int, ...], other: tuple[int, ...]) -> float:
    """The target's gap in log-probability between its best two tokens where `other` first departs from
    `plain` (token-by-token decoding, as plain greedy runs): near zero when a batched decode's rounding
    flipped a near-tie, large when something else went wrong."""
    first = common_prefix(plain, other)
    # where `other` went on after plain stopped, the position after all of plain
    answer = plain[: first + 1] if first < len(plain) else (*plain, other[first])
    _, values = target.top_logprobs(prompt, list(answer), 2)
    return values[first][0] - values[first][1]


def _sample(arm: str, result, prompt_ms: float, margin: float | None) -> SpeculativeSample:
    timings = result.timings
    return SpeculativeSample(
        arm,
        timings.tokens_generated,
        timings.generation_ms,
        prompt_ms + timings.generation_ms,
        timings.draft_tokens,
        timings.draft_accepted_tokens,
        margin is None,
        margin,
    )


def speculative_table(
    target: str, draft_model: str, threads: int, verify: dict[str, dict[int, float]], samples
) -> str:
    """The verify-cost table (per model) and the speed table (per arm): tokens per target decode (the
    acceptance length), draft acceptance, generation tokens/s, end-to-end latency and its paired ratio to
    the target alone (95% bootstrap over prompts), and how many outputs differ from plain greedy."""
    sizes = sorted(next(iter(verify.values())))
    lines = [
        f"machine: {machine_description()}; target {target}; draft model {draft_model or 'none'}; "
        f"{threads} llama.cpp thread(s)",
        "",
        f"One decode of n tokens with logits at every row, after {VERIFY_CONTEXT_TOKENS} cached tokens "
        "(median ms; in brackets, ÷ n = 1):",
        "",
        "| model | " + " | ".join(f"n = {n}" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for model, row in verify.items():
        cells = [f"{row[n]:.0f} ({row[n] / row[sizes[0]]:.2f})" for n in sizes]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    arms = list(dict.fromkeys(s.arm for s in samples))
    base = [s for s in samples if s.arm == "target alone"]
    lines += [
        "",
        f"{len(base)} prompts, greedy, up to {GenerationConfig().max_tokens} tokens:",
        "",
        "| arm | tokens per target decode | draft tokens accepted | generation tok/s | "
        "end-to-end p50 ms | end-to-end ÷ target alone [95%] | outputs ≠ greedy (top-2 gap there) |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        rows = [s for s in samples if s.arm == arm]
        tokens = sum(s.tokens for s in rows)
        decodes = max(1, tokens - sum(s.accepted for s in rows))
        drafted = sum(s.drafted for s in rows)
        share = f"{sum(s.accepted for s in rows) / drafted:.2f}" if drafted else "–"
        speed = tokens / max(1e-9, sum(s.generation_ms for s in rows) / 1000)
        p50 = statistics.median(s.end_to_end_ms for s in rows)
        ratio, low, high = _paired_ratio([s.end_to_end_ms for s in base], [s.end_to_end_ms for s in rows])
        gaps = [f"{s.tie_margin:.3f}" for s in rows if not s.same_tokens]
        differ = f"{len(gaps)} ({', '.join(gaps)})" if gaps else "0"
        lines.append(
            f"| {arm} | {tokens / decodes:.2f} | {share} | {speed:.1f} | {p50:.0f} | "
            f"{ratio:.2f} [{low:.2f}, {high:.2f}] | {differ} |"
        )
    return "\n".join(lines)


def _paired_ratio(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0):
    """sum(b) / sum(a) over paired items, with a 95% percentile bootstrap interval resampling the pairs."""
    import numpy as np

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    ratios = y[picks].sum(axis=1) / x[picks].sum(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(y.sum() / x.sum()), float(low), float(high)
