"""A stand-in for the engine, for tests of the logic around the model (HTTP, validation, scheduling,
benchmark mechanics) where the real model would only make them slow."""

from __future__ import annotations

from nanocomplete.config import GenerationConfig
from nanocomplete.engine import Generation, KvSnapshot, Timings


class FakeEngine:
    """Tokens are Unicode code points; the 'model' always answers with `answer`."""

    identity = "fake-engine"  # what its KV snapshots on disk are keyed by
    kv_bytes_per_token = 1

    def __init__(self, answer: str = "value + 1"):
        self.answer = answer
        self.cached_tokens: tuple[int, ...] = ()
        self.interrupts = 0  # calls of interrupt() (the scheduler stops a warmup batch in flight)

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, ids) -> str:
        return "".join(chr(i) for i in ids)

    def cached_prefix_length(self, prompt) -> int:
        n = 0
        for a, b in zip(self.cached_tokens, prompt, strict=False):
            if a != b:
                break
            n += 1
        return n

    def interrupt(self) -> None:
        self.interrupts += 1

    def prefill(self, prompt, cancel=None, batch_tokens=None, interruptible=False):
        reused = self.cached_prefix_length(prompt)
        self.cached_tokens = tuple(prompt)
        return len(prompt) - reused, reused

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
