"""The engine: the only module that touches llama.cpp. It knows token ids, not prompts or files.

- Loads a GGUF in-process through llama-cpp-python (without `logits_all`: only the last position's
  logits are computed; per-token log-probabilities of generated tokens come from those).
- Keeps the token ids currently held in the KV cache and, for each request, reuses the longest common
  prefix with them: only the tail that differs is evaluated.
- Evaluates the prompt in batches and generates token by token; `cancel()` is checked between batches and
  between tokens, and a cancelled prompt evaluation keeps what it already evaluated in the cache.
- Stops on the FIM/EOS stop set, on `max_tokens`, or when the caller's `should_stop(text)` says so.

Not thread-safe: one request at a time (the server serialises them).
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanocomplete import fim
from nanocomplete.config import EngineConfig, GenerationConfig
from nanocomplete.errors import Cancelled, EngineError, PromptError

SHORT_TEXT_CHARS = 4096  # texts up to this long are cached by the tokenizer
CACHED_TEXTS = 4096  # at most ~16 MB

StopCheck = Callable[[str], bool]
CancelCheck = Callable[[], bool]


def backend_description(engine: Engine) -> str:
    """Where the model runs, e.g. "CPU (llama.cpp built without GPU offload)" or "GPU: 24 of 24 layers
    offloaded" (what `serve` logs at start)."""
    if engine.gpu_layers == 0:
        import llama_cpp

        built = llama_cpp.llama_supports_gpu_offload()
        return f"CPU ({'--gpu-layers 0' if built else 'llama.cpp built without GPU offload'})"
    return f"GPU: {engine.gpu_layers} of {engine.layers} layers offloaded"


def build_features() -> str:
    """The llama.cpp build's CPU features as llama.cpp reports them, e.g. "CPU : SSE3 = 1 | AVX = 1 |
    AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 0 | ..." (which kernels run; `machine.py` says
    which the CPU has), and the llama-cpp-python version."""
    import llama_cpp

    features = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace").strip()
    return f"llama-cpp-python {llama_cpp.__version__}: {features.rstrip(' |')}"


@dataclass(frozen=True)
class Timings:
    prompt_tokens: int
    prompt_tokens_evaluated: int
    prompt_tokens_reused: int
    prompt_ms: float
    generation_ms: float
    tokens_generated: int


@dataclass(frozen=True)
class KvSnapshot:
    tokens: tuple[int, ...]
    data: bytes

    @property
    def size_bytes(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: tuple[int, ...]
    token_logprobs: tuple[float, ...]  # natural log, temperature 1, one per generated token
    token_end_chars: tuple[int, ...]  # where each token ends in `text`
    stop_reason: str  # "stop_token" | "max_tokens" | "should_stop"
    timings: Timings


class Tokenizer:
    """The model's tokenizer alone (a vocab-only load: no weights, a fraction of a second)."""

    def __init__(self, model_path: str | Path, llama=None):
        if llama is None:
            from llama_cpp import Llama

            llama = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
        self._llama = llama
        raw = llama.tokenize  # the cache holds the model's method, not this object: no reference cycle

        @functools.lru_cache(maxsize=CACHED_TEXTS)
        def short(text: str) -> tuple[int, ...]:
            return tuple(raw(text.encode("utf-8"), add_bos=False, special=False))

        self._short = short

    def tokenize(self, text: str) -> list[int]:
        """Token ids of user text; special-token strings stay text. Short texts (prompt lines, context
        snippets, paths) come from a cache: successive requests tokenize mostly the same ones."""
        if not text:
            return []
        if len(text) <= SHORT_TEXT_CHARS:
            return list(self._short(text))
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def detokenize(self, token_ids: Sequence[int], special: bool = False) -> str:
        """Text of `token_ids`; with `special`, marker ids are rendered as their names."""
        return self._llama.detokenize(list(token_ids), special=special).decode("utf-8", errors="replace")


class Engine:
    def __init__(
        self,
        model_path: str | Path,
        config: EngineConfig = EngineConfig(),
        adapter_path: str | Path | None = None,
    ):
        """`adapter_path`: a GGUF LoRA adapter applied at load time (a registered model may name one)."""
        import llama_cpp  # imported here so pure modules and --help stay fast
        from llama_cpp import Llama

        self.config = config
        self.model_path = Path(model_path)
        self.adapter_path = Path(adapter_path) if adapter_path is not None else None
        threads = config.resolved_threads()
        try:
            self._llama = Llama(
                model_path=str(model_path),
                n_ctx=config.context_window_tokens,
                n_batch=config.batch_tokens,
                n_ubatch=config.batch_tokens,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=config.gpu_layers,
                logits_all=False,
                lora_path=str(adapter_path) if adapter_path is not None else None,
                verbose=False,
            )
        except (ValueError, RuntimeError) as error:
            loaded = f"{model_path} with adapter {adapter_path}" if adapter_path else str(model_path)
            raise EngineError(f"llama.cpp could not load {loaded}: {error}") from error
        self.tokenizer = Tokenizer(model_path, self._llama)
        self.layers = int(llama_cpp.llama_model_n_layer(self._llama.model))
        # the repeating layers llama.cpp offloads to the GPU (gpu_layers -1: all of them)
        wanted = self.layers if config.gpu_layers < 0 else min(self.layers, config.gpu_layers)
        self.gpu_layers = wanted if llama_cpp.llama_supports_gpu_offload() else 0
        self.tokenize = self.tokenizer.tokenize
        self.detokenize = self.tokenizer.detokenize
        self._n_vocab = self._llama.n_vocab()
        self._stop_ids = fim.STOP_TOKEN_IDS | {self._llama.token_eos()}
        self._cached: list[int] = []  # token ids whose keys/values are in the KV cache, in order

    @classmethod
    def for_model(cls, name_or_path: str, config: EngineConfig = EngineConfig()) -> Engine:
        """The engine of a registered model (its GGUF, plus its adapter if it has one) or a .gguf path."""
        from nanocomplete import models

        files = models.resolve_files(name_or_path)
        return cls(files.model, config, files.adapter)

    @functools.cached_property
    def identity(self) -> str:
        """What a saved KV state is only valid for: the model's and the adapter's SHA-256 and the version
        of llama-cpp-python (whose llama.cpp writes the state). Hashes a file not verified before."""
        import llama_cpp

        from nanocomplete import models

        files = [self.model_path] + ([self.adapter_path] if self.adapter_path is not None else [])
        hashes = ",".join(models.file_sha256_recorded(path)[:16] for path in files)
        return f"{hashes};llama-cpp-python {llama_cpp.__version__}"

    @property
    def cached_tokens(self) -> tuple[int, ...]:
        return tuple(self._cached)

    def cached_prefix_length(self, prompt: Sequence[int]) -> int:
        """How many leading tokens of `prompt` the KV cache already holds."""
        return common_prefix(tuple(self._cached), prompt)  # a copy: other threads may ask while it changes

    def snapshot(self) -> KvSnapshot:
        """A copy of the KV cache (keys and values only, ~12 KiB per token for the 0.5B)."""
        import llama_cpp

        ctx = self._llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        return KvSnapshot(tuple(self._cached), bytes(buffer[:written]))

    def restore(self, snapshot: KvSnapshot) -> None:
        """Replace the KV cache with `snapshot`."""
        import llama_cpp

        self.reset()
        if not snapshot.tokens:
            return
        buffer = (ctypes.c_uint8 * len(snapshot.data)).from_buffer_copy(snapshot.data)
        if llama_cpp.llama_state_seq_set_data(self._llama._ctx.ctx, buffer, len(snapshot.data), 0) == 0:
            self.reset()
            raise EngineError("llama.cpp refused a KV snapshot")
        self._cached = list(snapshot.tokens)

    def reset(self) -> None:
        """Forget the KV cache (the next request evaluates its whole prompt)."""
        self._llama._ctx.kv_cache_clear()
        self._cached = []

    # --- evaluation ---

    def prefill(
        self, prompt: Sequence[int], cancel: CancelCheck | None = None, batch_tokens: int | None = None
    ) -> tuple[int, int]:
        """Bring the KV cache to hold `prompt`, with logits for its last token. A smaller `batch_tokens`
        puts cancellation points closer together (warmups that must yield quickly).

        Returns (tokens evaluated, tokens reused). Raises Cancelled between batches."""
        if not prompt:
            raise PromptError("empty prompt")
        if len(prompt) >= self.config.context_window_tokens:
            raise PromptError(
                f"prompt of {len(prompt)} tokens does not fit context_window_tokens="
                f"{self.config.context_window_tokens}"
            )
        reused = min(common_prefix(self._cached, prompt), len(prompt) - 1)
        self._truncate_cache(reused)
        todo = list(prompt[reused:])
        step = min(batch_tokens or self.config.batch_tokens, self.config.batch_tokens)
        for start in range(0, len(todo), step):
            if cancel is not None and cancel():
                raise Cancelled("cancelled during prompt evaluation")
            self._decode(todo[start : start + step])
        return len(todo), reused

    def generate(
        self,
        prompt: Sequence[int],
        generation: GenerationConfig = GenerationConfig(),
        should_stop: StopCheck | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation:
        """Complete `prompt`: at most `generation.max_tokens` new tokens."""
        if len(prompt) + generation.max_tokens > self.config.context_window_tokens:
            raise PromptError(
                f"prompt ({len(prompt)} tokens) + max_tokens ({generation.max_tokens}) exceeds "
                f"context_window_tokens={self.config.context_window_tokens}"
            )
        started = time.perf_counter()
        evaluated, reused = self.prefill(prompt, cancel)
        prompt_done = time.perf_counter()
        rng = np.random.default_rng(generation.seed)
        ids: list[int] = []
        logprobs: list[float] = []
        pieces: list[bytes] = []
        ends: list[int] = []
        text = ""
        stop_reason = "max_tokens"
        while len(ids) < generation.max_tokens:
            if cancel is not None and cancel():
                raise Cancelled("cancelled during generation")
            token, logprob = self._sample(generation.temperature, rng)
            if token in self._stop_ids:
                stop_reason = "stop_token"
                break
            ids.append(token)
            logprobs.append(logprob)
            pieces.append(self._llama.detokenize([token]))
            text = b"".join(pieces).decode("utf-8", errors="ignore")
            ends.append(len(text))
            if should_stop is not None and should_stop(text):
                stop_reason = "should_stop"
                break
            if len(ids) < generation.max_tokens:
                self._decode([token])
        done = time.perf_counter()
        timings = Timings(
            prompt_tokens=len(prompt),
            prompt_tokens_evaluated=evaluated,
            prompt_tokens_reused=reused,
            prompt_ms=(prompt_done - started) * 1000,
            generation_ms=(done - prompt_done) * 1000,
            tokens_generated=len(ids),
        )
        return Generation(text, tuple(ids), tuple(logprobs), tuple(ends), stop_reason, timings)

    def top_logprobs(
        self, prompt: Sequence[int], answer: Sequence[int], top_k: int, batched: bool = False
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Teacher forcing: at each position of `answer` after `prompt`, the `top_k` most likely token ids
        and their log-probabilities (temperature 1), best first. The KV cache keeps prompt + answer.
        `batched`: evaluate the answer in batches with logits at every position (as a target verifies a
        draft) instead of token by token; the two agree only to rounding (docs/numerics.md)."""
        top_ids, top_values = [], []
        for logprobs in self._teacher_forced(prompt, answer, batched):
            best = np.argsort(-logprobs)[:top_k]
            top_ids.append([int(t) for t in best])
            top_values.append([float(logprobs[t]) for t in best])
        return top_ids, top_values

    def answer_logprobs(
        self, prompt: Sequence[int], answer: Sequence[int], batched: bool = False
    ) -> list[float]:
        """Teacher forcing: the log-probability of each token of `answer` after `prompt` and the answer's
        earlier tokens (`batched` as in `top_logprobs`)."""
        return [
            float(logprobs[token])
            for logprobs, token in zip(self._teacher_forced(prompt, answer, batched), answer, strict=True)
        ]

    def _teacher_forced(
        self, prompt: Sequence[int], answer: Sequence[int], batched: bool = False
    ) -> Iterator[np.ndarray]:
        """The log-probs over the vocabulary at each answer position, feeding the real answer tokens: one
        token per decode, or (`batched`) up to `batch_tokens` per decode with logits at every position."""
        if len(prompt) + len(answer) >= self.config.context_window_tokens:
            raise PromptError(f"{len(prompt) + len(answer)} tokens do not fit the context window")
        if not answer:
            return
        self.prefill(prompt)
        yield self._last_logprobs()
        fed = list(answer[:-1])
        step = self.config.batch_tokens if batched else 1
        for start in range(0, len(fed), step):
            chunk = fed[start : start + step]
            self._decode(chunk, logits_all=batched)
            for i in range(len(chunk) if batched else 0):
                yield self._logprobs_at(i)
            if not batched:
                yield self._last_logprobs()

    # --- llama.cpp calls ---

    def _truncate_cache(self, keep: int) -> None:
        if keep < len(self._cached):
            if not self._llama._ctx.kv_cache_seq_rm(0, keep, -1):
                self.reset()
                return
            del self._cached[keep:]

    def _decode(self, batch: list[int], logits_all: bool = False) -> None:
        """Evaluate `batch` after the cached tokens; logits are kept for its last token only, or for each
        of its tokens with `logits_all` (read them with `_logprobs_at(i)`)."""
        llama_batch = self._llama._batch
        llama_batch.set_batch(batch, n_past=len(self._cached), logits_all=logits_all)
        try:
            self._llama._ctx.decode(llama_batch)
        except RuntimeError as error:
            self.reset()
            raise EngineError(f"llama.cpp decode failed: {error}") from error
        self._cached.extend(batch)

    def _sample(self, temperature: float, rng: np.random.Generator) -> tuple[int, float]:
        """Next token and its log-probability, from the logits of the last evaluated position."""
        logits = self._last_logits()
        logprobs = logits - _logsumexp(logits)
        if temperature <= 0:
            token = int(np.argmax(logits))
        else:
            scaled = logits / temperature
            probs = np.exp(scaled - _logsumexp(scaled))
            token = int(rng.choice(self._n_vocab, p=probs / probs.sum()))
        return token, float(logprobs[token])

    def _last_logits(self) -> np.ndarray:
        pointer = self._llama._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)

    def _last_logprobs(self) -> np.ndarray:
        logits = self._last_logits()
        return logits - _logsumexp(logits)

    def _logprobs_at(self, i: int) -> np.ndarray:
        """Log-probs after the `i`-th token of the last batch (decoded with `logits_all`); a copy."""
        pointer = self._llama._ctx.get_logits_ith(i)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)
        return logits - _logsumexp(logits)


def _logsumexp(values: np.ndarray) -> float:
    peak = float(values.max())
    return peak + float(np.log(np.exp(values - peak).sum()))


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
