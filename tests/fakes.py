"""A stand-in for the engine, for tests of the logic around the model (HTTP, validation, scheduling,
benchmark mechanics) where the real model would only make them slow."""

from __future__ import annotations

from nanocomplete.config import GenerationConfig
from nanocomplete.engine import (
    Generation,
    KvSnapshot,
    Timings,
    kept_after_stop,
    prefix_within,
    reusable_length,
    reuse_plan,
)


class FakeEngine:
    """Tokens are Unicode code points; the 'model' always answers with `answer`."""

    identity = "fake-engine"  # what its KV snapshots on disk are keyed by
    kv_bytes_per_token = 1
    kv_shift_min_tokens = 0  # EngineConfig's setting: 0 reuses only the cached prefix
    kv_shift_after_insertions = True  # EngineConfig's setting

    def __init__(self, answer: str = "value + 1"):
        self.answer = answer
        self.cached_tokens: tuple[int, ...] = ()
        self.interrupts = 0  # calls of interrupt() (the scheduler stops a warmup batch in flight)

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, ids) -> str:
        return "".join(chr(i) for i in ids)

    def reusable_tokens(self, prompt) -> int:
        """As the engine's: the cached prefix, and with `kv_shift_min_tokens` the runs shifted into place."""
        return self.reusable(self.cached_tokens, prompt)

    def prefix_within(self, prompt, tokens: int) -> int:
        return prefix_within(
            self.cached_tokens, prompt, tokens, self.kv_shift_min_tokens, self.kv_shift_after_insertions
        )

    def reusable(self, cached, prompt) -> int:
        return reusable_length(cached, prompt, self.kv_shift_min_tokens, self.kv_shift_after_insertions)

    def interrupt(self) -> None:
        self.interrupts += 1

    def prepare_vocabulary(self) -> None:
        """As the engine's: nothing to build here (the stand-in never heals)."""

    def prefill(self, prompt, cancel=None, batch_tokens=None, interruptible=False, stop_at=None):
        """As the engine's, `stop_at` included: stopped inside new text before cached runs, the cache
        keeps the prompt up to there and the runs after it (`kept_after_stop`)."""
        plan = reuse_plan(
            self.cached_tokens, prompt, self.kv_shift_min_tokens, self.kv_shift_after_insertions
        )
        if stop_at is None or stop_at >= len(prompt):
            self.cached_tokens = tuple(prompt)
            return len(prompt) - plan.reused, plan.reused
        stop = max(stop_at, plan.head + 1)
        # after a shift the engine evaluates at least the first gap's first token, or the tail's
        if plan.runs:
            stop = max(stop, plan.gaps[0][0] + 1 if plan.gaps else plan.end + 1)
        gap = next(((start, end) for start, end in plan.gaps if end > stop), None)
        if gap is None:  # past the last run: the tail up to the stop
            self.cached_tokens = tuple(prompt[: max(stop, plan.end)])
        else:  # inside a gap, or inside a run before one (then the run is kept whole)
            done = max(stop, gap[0])
            self.cached_tokens = tuple(kept_after_stop(prompt, plan, done))
            stop = done
        return plan.gap_tokens_before(stop) + max(0, stop - plan.end), plan.reused

    def generate(
        self,
        prompt,
        generation: GenerationConfig = GenerationConfig(),
        should_stop=None,
        cancel=None,
        required_start="",
    ):
        evaluated, reused = self.prefill(prompt)
        text = self.answer
        timings = Timings(len(prompt), evaluated, reused, 0.1, 0.1, 3)
        ends = (len(text) // 3, 2 * len(text) // 3, len(text))
        return Generation(text, (1, 2, 3), (-0.1, -0.2, -0.1), ends, "stop_token", timings)

    def snapshot(self) -> KvSnapshot:
        return KvSnapshot(self.cached_tokens, b"x" * len(self.cached_tokens))

    def restore(self, snapshot: KvSnapshot) -> None:
        self.cached_tokens = snapshot.tokens

    def reset(self) -> None:
        self.cached_tokens = ()
