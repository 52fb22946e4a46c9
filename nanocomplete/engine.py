"""The engine: the only module that touches llama.cpp. It knows token ids, not prompts or files.

- Loads a GGUF in-process through llama-cpp-python (without `logits_all`: only the last position's
  logits are computed; per-token log-probabilities of generated tokens come from those).
- Keeps the token ids currently held in the KV cache and, for each request, reuses the longest common
  prefix with them, and (`kv_shift_min_tokens`) the cached runs the prompt still has after text it lost or
  gained, shifted into place: only what differs is evaluated (text gained before a run in a second,
  scratch sequence of the same cache, since llama.cpp decodes a sequence only at its end).
- Evaluates the prompt in batches and generates token by token; `cancel()` is checked between batches and
  between tokens, and a cancelled prompt evaluation keeps what it already evaluated in the cache.
- Stops on the FIM/EOS stop set, on `max_tokens`, when the caller's `should_stop(text)` says so, or at the
  first token after `max_generation_ms` once a whole line is written (the unfinished line after it is the
  caller's to drop).

Not thread-safe: one request at a time (the server serialises them).
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import dataclasses
import functools
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanocomplete import draft, fim, postprocess
from nanocomplete.config import EngineConfig, GenerationConfig
from nanocomplete.errors import Cancelled, EngineError, PromptError

SHORT_TEXT_CHARS = 4096  # texts up to this long are cached by the tokenizer
CACHED_TEXTS = 4096  # at most ~16 MB
MASKS_CACHED = 64  # vocabulary masks of required texts (healed), 152 KB each, the newest kept

StopCheck = Callable[[str], bool]
CancelCheck = Callable[[], bool]
DECODE_ABORTED = 2  # llama_decode's return code when the abort callback stopped it (llama-context.cpp)
SCRATCH_SEQUENCE = 1  # the KV cache's second sequence: text inserted before cached runs is evaluated there
# tokens compared while looking for cached runs after insertions, per plan (~50 ms of Python here): in a
# repetitive file (a table, `x\n` lines) every gram matches everywhere, and the search was cubic (24.8 s
# for 2,000 tokens against one snapshot, planned against every snapshot in memory on each request)
RUN_SEARCH_MAX_STEPS = 200_000
Drafter = Callable[[Sequence[int], int], list[int]]  # (prompt + output so far, at most n) -> draft ids


@functools.cache
def _quiet_aborted_batches() -> None:
    """llama.cpp logs a warning for each batch its abort callback stopped ("removing memory module
    entries"), and llama-cpp-python 0.3.36 prints warnings at its error level. An aborted warm-up batch is
    routine here (`Engine.prefill(interruptible=True)`), so that one message is dropped; every other goes
    to llama-cpp-python's own log callback as before."""
    import llama_cpp
    from llama_cpp import _logger

    @llama_cpp.llama_log_callback
    def log(level, text, user_data):
        if b"removing memory module entries" not in text:
            _logger.llama_log_callback(level, text, user_data)

    llama_cpp.llama_log_set(log, ctypes.c_void_p(0))
    _QUIET_LOG.append(log)  # a reference keeps the callback alive


_QUIET_LOG: list = []


class _Stopped(Exception):
    """A prefill reached its `stop_at` inside new text before cached runs (caught in `prefill`)."""


class AbortFlag:
    """A flag that stops llama.cpp's computation of a batch, read in C: no Python runs per graph node.

    llama.cpp calls its abort callback at every node of the graph it computes (the CPU backend's thread 0).
    A Python callback there waits for the GIL each time: with another Python thread busy, a warm-up ran
    1.96x slower (runs/warm_abort.py --busy-python-thread at commit 3d1fd30; docs/performance.md). This
    callback is C that already exists: libc's `strlen`, given this flag's two-byte buffer whose second byte
    is always 0. It returns 1 when the first byte is set and 0 when not, and 0 or 1 is a valid C `bool`
    however much of the return register the caller reads (x86-64, arm64). Setting and clearing are single
    byte stores, safe from any thread."""

    def __init__(self):
        self._buffer = ctypes.create_string_buffer(2)  # b"\0\0"; byte 1 is never written
        self.pointer = ctypes.cast(self._buffer, ctypes.c_void_p)

    def set(self) -> None:
        self._buffer[0] = b"\x01"

    def clear(self) -> None:
        self._buffer[0] = b"\x00"

    def is_set(self) -> bool:
        return self._buffer.raw[0] == 1


@functools.cache
def _flag_reader():
    """llama.cpp's `ggml_abort_callback` type over libc's `strlen` (see `AbortFlag`)."""
    import llama_cpp

    libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(None)
    return llama_cpp.ggml_abort_callback(ctypes.cast(libc.strlen, ctypes.c_void_p).value)


_SEQUENCES_LOCK = threading.Lock()


@contextlib.contextmanager
def _context_sequences(count: int):
    """While inside, a `Llama` built here gets a KV cache of `count` sequences in one unified buffer
    (`n_seq_max`, `kv_unified`): llama-cpp-python 0.3.36 sets them only for embedding models, so its
    context takes llama.cpp's defaults, patched here (speculative-and-kv-shift notes). Greedy logits of
    one sequence are the same either way (checked: a 1,212-token prompt, max difference 0.0)."""
    if count == 1:
        yield
        return
    import llama_cpp.llama_cpp as bindings

    defaults = bindings.llama_context_default_params

    def with_sequences():
        params = defaults()
        params.n_seq_max, params.kv_unified = count, True
        return params

    with _SEQUENCES_LOCK:
        bindings.llama_context_default_params = with_sequences
        try:
            yield
        finally:
            bindings.llama_context_default_params = defaults


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
    draft_tokens: int = 0  # tokens drafted for speculative decoding
    draft_accepted_tokens: int = 0  # of those, the ones the model agreed with
    draft_ms: float = 0.0  # time spent drafting (a draft model's prompt evaluation included)
    warm_share_tokens: int = 0  # of prompt_tokens_evaluated, those of another prompt (scheduler.WarmShare)


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
    stop_reason: str  # "stop_token" | "max_tokens" | "should_stop" | "max_generation_ms"
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
        # a second sequence evaluates text inserted before cached runs (`_fill_gap`)
        sequences = 2 if config.kv_shift_min_tokens > 0 and config.kv_shift_after_insertions else 1
        try:
            with _context_sequences(sequences):
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
        model = self._llama.model
        head_dim = llama_cpp.llama_model_n_embd(model) // llama_cpp.llama_model_n_head(model)
        # keys and values of every layer in f16 (llama.cpp's default): 12 KiB (0.5B), 28 KiB (1.5B)
        self.kv_bytes_per_token = self.layers * llama_cpp.llama_model_n_head_kv(model) * head_dim * 2 * 2
        # the repeating layers llama.cpp offloads to the GPU (gpu_layers -1: all of them)
        wanted = self.layers if config.gpu_layers < 0 else min(self.layers, config.gpu_layers)
        self.gpu_layers = wanted if llama_cpp.llama_supports_gpu_offload() else 0
        self.tokenize = self.tokenizer.tokenize
        self.detokenize = self.tokenizer.detokenize
        self._n_vocab = self._llama.n_vocab()
        self._stop_ids = fim.STOP_TOKEN_IDS | {self._llama.token_eos()}
        self._cached: list[int] = []  # token ids whose keys/values are in the KV cache, in order
        self._gap: tuple[int, int] | None = None  # (start, evaluated up to) of a gap being evaluated
        # runs shifted into place need a model whose positions llama.cpp can shift (RoPE: Qwen2.5 can)
        can_shift = llama_cpp.llama_memory_can_shift(llama_cpp.llama_get_memory(self._llama._ctx.ctx))
        self._shift_min_tokens = config.kv_shift_min_tokens if can_shift else 0
        self._shift_insertions = sequences == 2 and can_shift
        self._masks: dict[bytes, np.ndarray] = {}  # by required text: the tokens that agree with it
        self._vocabulary_lock = threading.Lock()
        self._sorted_vocabulary: tuple[np.ndarray, list[bytes], dict[bytes, list[int]]] | None = None
        # read by llama.cpp's abort callback, installed only while an interruptible prefill runs
        self._abort = AbortFlag()
        _quiet_aborted_batches()
        # the draft model for draft=model: its own llama.cpp context and KV cache
        self.draft_engine = (
            Engine.for_model(config.draft_model, dataclasses.replace(config, draft_model=""))
            if config.draft_model
            else None
        )

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

    def reusable_tokens(self, prompt: Sequence[int]) -> int:
        """How many tokens of `prompt` a prefill would not evaluate: the cached prefix, and with
        `kv_shift_min_tokens` the cached runs that shifting puts in place (`reuse_plan`)."""
        return self.reusable(tuple(self._cached), prompt)  # a copy: other threads may ask while it changes

    def prefix_within(self, prompt: Sequence[int], tokens: int) -> int:
        """The end of the longest prefix of `prompt` that a prefill brings into the cache by evaluating at
        most `tokens` (~1 more where it ends on a run: its last token is evaluated for logits; module
        `prefix_within`)."""
        cached = tuple(self._cached)
        return prefix_within(cached, prompt, tokens, self._shift_min_tokens, self._shift_insertions)

    def reusable(self, cached: Sequence[int], prompt: Sequence[int]) -> int:
        """How many tokens of `prompt` a prefill would not evaluate over a cache holding `cached` (a
        snapshot's tokens, say), with this engine's shift settings."""
        return reusable_length(cached, prompt, self._shift_min_tokens, self._shift_insertions)

    def snapshot(self) -> KvSnapshot:
        """A copy of the KV cache (keys and values only, `kv_bytes_per_token` per token: 12 KiB for the
        0.5B). Costs two copies of it at once, briefly (llama.cpp's buffer, then the bytes kept)."""
        import llama_cpp

        ctx = self._llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        # string_at copies in C; slicing the ctypes array would build a list of ints first (8 bytes per
        # byte, ~1.5 s for a 2,000-token snapshot: runs/snapshot_cost.py)
        return KvSnapshot(tuple(self._cached), ctypes.string_at(buffer, written))

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
        self._gap = None

    # --- evaluation ---

    def prefill(
        self,
        prompt: Sequence[int],
        cancel: CancelCheck | None = None,
        batch_tokens: int | None = None,
        interruptible: bool = False,
        stop_at: int | None = None,
    ) -> tuple[int, int]:
        """Bring the KV cache to hold `prompt`, with logits for its last token. A smaller `batch_tokens`
        puts cancellation points closer together (warmups that must yield quickly). `cancel` is checked
        between batches. `interruptible`: `interrupt()`, from any thread, also stops the batch in flight,
        within one graph node (llama.cpp's abort callback, reading a flag in C: `AbortFlag`); the stopped
        batch is discarded whole, so a waiting completion does not wait for it. A call to `interrupt()`
        before this prefill began does not count: check for it in `cancel`.

        `stop_at`: evaluate the prompt only up to this position (a warm-up's share of a request's budget,
        `prefix_within`), without logits. Stopped inside new text before cached runs, the cache keeps
        what it evaluated and the runs after it, moved left to follow it (as after a cancel there), so the
        next prefill goes on from there instead of evaluating the runs again.

        Returns (tokens evaluated, tokens reused: `reuse_plan`'s head and runs). Raises Cancelled between
        batches, or within one."""
        if not prompt:
            raise PromptError("empty prompt")
        if len(prompt) >= self.config.context_window_tokens:
            raise PromptError(
                f"prompt of {len(prompt)} tokens does not fit context_window_tokens="
                f"{self.config.context_window_tokens}"
            )
        plan = reuse_plan(self._cached, prompt, self._shift_min_tokens, self._shift_insertions)
        shifted = self._shift(plan)
        gaps = plan.gaps if shifted else ()
        if shifted:  # what stands before the first gap is in place; the runs after it wait for it
            self._cached = list(prompt[: gaps[0][0] if gaps else plan.end])
        else:
            self._truncate_cache(min(plan.head, len(self._cached)))
        reused = plan.reused if shifted else len(self._cached)
        tail_start = plan.end if shifted else len(self._cached)
        todo = list(prompt[tail_start:])
        limit = len(prompt) if stop_at is None else max(stop_at, plan.head + 1)
        step = min(batch_tokens or self.config.batch_tokens, self.config.batch_tokens)
        first = 0
        try:
            if shifted:  # llama.cpp rotates the shifted keys at the next decode: one token, never aborted,
                # since a snapshot taken before it would keep them unrotated (kv-shift notes) and an abort
                # inside the rotation could leave it half done; the rest in interruptible batches
                if gaps:
                    (gap_start, gap_end), gaps = gaps[0], gaps[1:]
                    gaps = ((gap_start + 1, gap_end), *gaps) if gap_end > gap_start + 1 else gaps
                    ready = gaps[0][0] if gaps else plan.end
                    self._fill_gap(prompt, gap_start, gap_start + 1, ready, step, cancel=None)
                else:
                    self._decode(todo[:1])
                    first = 1
            with self._interruptible() if interruptible else contextlib.nullcontext():
                for i, (gap_start, gap_end) in enumerate(gaps):
                    ready = gaps[i + 1][0] if i + 1 < len(gaps) else plan.end
                    self._fill_gap(prompt, gap_start, gap_end, ready, step, cancel, limit)
                tail_end = max(first, min(len(todo), limit - tail_start))
                for start in range(first, tail_end, step):
                    if cancel is not None and cancel():
                        raise Cancelled("cancelled during prompt evaluation")
                    self._decode(todo[start : min(start + step, tail_end)])
        except _Stopped:  # inside a gap, at `stop_at`
            done = self._gap[1]
            self._keep_gap_progress(prompt, plan)
            return plan.gap_tokens_before(done), reused
        except BaseException:
            if self._gap is not None:  # stopped inside a gap (a failed decode has emptied the cache)
                self._keep_gap_progress(prompt, plan)
            raise
        return tail_end + plan.gap_tokens * shifted, reused

    def interrupt(self) -> None:
        """Stop the interruptible prefill in flight, if any (any thread; it raises Cancelled)."""
        self._abort.set()

    @contextlib.contextmanager
    def _interruptible(self):
        """While inside, llama.cpp stops a decode once `interrupt()` is called. The callback is installed
        only here: llama.cpp calls it at every graph node, a cost no other decode should pay."""
        import llama_cpp

        self._abort.clear()
        llama_cpp.llama_set_abort_callback(self._llama.ctx, _flag_reader(), self._abort.pointer)
        try:
            yield
        finally:
            llama_cpp.llama_set_abort_callback(self._llama.ctx, llama_cpp.ggml_abort_callback(), None)

    def generate(
        self,
        prompt: Sequence[int],
        generation: GenerationConfig = GenerationConfig(),
        should_stop: StopCheck | None = None,
        cancel: CancelCheck | None = None,
        required_start: str = "",
    ) -> Generation:
        """Complete `prompt`: at most `generation.max_tokens` new tokens. With `generation.draft` and a
        temperature of 0, speculative decoding: each round the drafter guesses up to `draft_max_tokens`
        tokens and the model verifies them in one batch; the tokens are those of plain greedy decoding,
        up to floating point (a batched decode may flip a near-tie; docs/numerics.md).

        `required_start`: text the output must begin with (what a healed prompt left out: whitespace, the
        typed line's last token; `prompt.Prompt.healed`). Until the output covers it, only tokens that agree
        with it are chosen (token healing; no stop token); their log-probabilities are the model's,
        unconstrained."""
        extra = generation.draft_max_tokens if generation.draft != "none" else 0
        if len(prompt) + generation.max_tokens + extra > self.config.context_window_tokens:
            raise PromptError(
                f"prompt ({len(prompt)} tokens) + max_tokens ({generation.max_tokens}) exceeds "
                f"context_window_tokens={self.config.context_window_tokens}"
            )
        drafter = self._drafter(generation)
        started = time.perf_counter()
        evaluated, reused = self.prefill(prompt, cancel)
        prompt_done = time.perf_counter()
        deadline = prompt_done + generation.max_generation_ms / 1000 if generation.max_generation_ms else None
        out = _Output(
            self._llama.detokenize, self._stop_ids, generation.max_tokens, should_stop, deadline,
            len(required_start),
        )  # fmt: skip
        rng = np.random.default_rng(generation.seed)
        self._decode_required_start(out, required_start.encode(), generation.temperature, rng, cancel)
        if drafter is None:
            self._decode_plain(out, generation.temperature, rng, cancel)
        else:
            # a verify batch (the next token and the draft) must fit one llama.cpp batch
            longest = min(generation.draft_max_tokens, self.config.batch_tokens - 1)
            self._decode_speculative(out, prompt, drafter, longest, cancel)
            # a generation that ended inside a verified draft leaves the draft's tail: drop it
            self._truncate_cache(min(len(self._cached), len(prompt) + len(out.ids)))
        done = time.perf_counter()
        timings = Timings(
            prompt_tokens=len(prompt),
            prompt_tokens_evaluated=evaluated,
            prompt_tokens_reused=reused,
            prompt_ms=(prompt_done - started) * 1000,
            generation_ms=(done - prompt_done) * 1000,
            tokens_generated=len(out.ids),
            draft_tokens=out.drafted,
            draft_accepted_tokens=out.accepted,
            draft_ms=out.draft_ms,
        )
        return Generation(
            out.text, tuple(out.ids), tuple(out.logprobs), tuple(out.ends), out.stop_reason, timings
        )

    def _drafter(self, generation: GenerationConfig) -> Drafter | None:
        if generation.draft == "none" or generation.temperature > 0:
            return None
        if generation.draft == "lookup":
            return draft.prompt_lookup
        if self.draft_engine is None:
            raise EngineError("draft=model needs a draft_model (EngineConfig.draft_model)")
        return self.draft_engine.draft_greedy

    def _decode_required_start(
        self,
        out: _Output,
        required: bytes,
        temperature: float,
        rng: np.random.Generator,
        cancel: CancelCheck | None,
    ) -> None:
        """Choose tokens that agree with `required` until the output covers it."""
        while not out.done and len(out.raw) < len(required):
            if cancel is not None and cancel():
                raise Cancelled("cancelled during generation")
            token, logprob = self._sample(temperature, rng, self._agreeing_tokens(required[len(out.raw) :]))
            if out.add(token, logprob):
                self._decode([token])

    def _agreeing_tokens(self, rest: bytes) -> np.ndarray:
        """A mask over the vocabulary: tokens whose text starts with `rest` or is a non-empty start of it.
        Not the stop tokens: the required text is the user's, already typed, so the model writes it whole and
        may decline only after it (allowed to stop at once, it would decline a typed word it finds unlikely:
        HumanEval, `typed` cursor, 4 of 400 answers lost; docs/results.md, "Token healing")."""
        mask = self._masks.get(rest)
        if mask is None:
            order, keys, by_text = self._pieces_sorted
            mask = np.zeros(len(self._pieces), dtype=bool)
            # the tokens that start with `rest` are one range of the sorted texts (0.05 ms; a scan of the
            # vocabulary took 38 ms, paid at every keystroke once a half-typed word is healed;
            # runs/healing_mask_cost.py)
            mask[order[bisect.bisect_left(keys, rest) : _prefix_range_end(keys, rest)]] = True
            for length in range(1, len(rest)):
                mask[by_text.get(rest[:length], [])] = True
            if len(self._masks) >= MASKS_CACHED:
                self._masks.pop(next(iter(self._masks)))  # the oldest
            self._masks[rest] = mask
        return mask

    def prepare_vocabulary(self) -> None:
        """Build what token healing reads (each token's text, sorted), ~1 s of CPU once, so that the first
        healed completion does not wait for it (a server calls it at start, in a background thread)."""
        _ = self._pieces_sorted

    @property
    def _pieces_sorted(self) -> tuple[np.ndarray, list[bytes], dict[bytes, list[int]]]:
        with self._vocabulary_lock:  # built once, whichever thread comes first; the other waits for it
            if self._sorted_vocabulary is None:
                self._sorted_vocabulary = self._sort_pieces()
            return self._sorted_vocabulary

    def _sort_pieces(self) -> tuple[np.ndarray, list[bytes], dict[bytes, list[int]]]:
        """The token ids in the order of their texts, those texts (special tokens left out), and the ids
        of each text."""
        texts = [(piece, token) for token, piece in enumerate(self._pieces) if piece]
        texts.sort()
        by_text: dict[bytes, list[int]] = {}
        for piece, token in texts:
            by_text.setdefault(piece, []).append(token)
        return np.array([token for _, token in texts]), [piece for piece, _ in texts], by_text

    @functools.cached_property
    def _pieces(self) -> list[bytes]:
        """Each token's text, in bytes (special tokens: b""); built at first use, ~1.5 s on a 2-core CPU."""
        return [self._llama.detokenize([token]) for token in range(self._n_vocab)]

    def _decode_plain(
        self, out: _Output, temperature: float, rng: np.random.Generator, cancel: CancelCheck | None
    ) -> None:
        while not out.done:
            if cancel is not None and cancel():
                raise Cancelled("cancelled during generation")
            token, logprob = self._sample(temperature, rng)
            if out.add(token, logprob):
                self._decode([token])

    def _decode_speculative(
        self,
        out: _Output,
        prompt: Sequence[int],
        drafter: Drafter,
        draft_max_tokens: int,
        cancel: CancelCheck | None,
    ) -> None:
        """Greedy decoding in rounds: the model's next token, a draft after it, one batch that evaluates
        both with logits at every row, then the draft's agreeing head is kept and the rest of the batch
        removed from the KV cache. Every round yields at least one token."""
        logits = self._last_logits()
        while not out.done:
            if cancel is not None and cancel():
                raise Cancelled("cancelled during generation")
            token = int(np.argmax(logits))
            if not out.add(token, _logprob(logits, token)):
                return
            began = time.perf_counter()
            guess = drafter([*prompt, *out.ids], min(draft_max_tokens, out.remaining))
            out.draft_ms += (time.perf_counter() - began) * 1000
            verified = len(self._cached)
            self._decode([token, *guess], logits_all=bool(guess))
            rows = [self._logits_at(i) for i in range(len(guess) + 1)] if guess else [self._last_logits()]
            agreed = draft.accepted_length(guess, [int(np.argmax(row)) for row in rows])
            out.drafted += len(guess)
            for i in range(agreed):
                out.accepted += 1
                if not out.add(guess[i], _logprob(rows[i], guess[i])):
                    return
            self._truncate_cache(verified + 1 + agreed)
            logits = rows[agreed]

    def verify_ms(self, batch: Sequence[int]) -> float:
        """Wall time (ms) of one speculative verify step: evaluate `batch` after the cached tokens with
        logits at every row, then remove it again (what `bench speculative` times for 1, 2, 3, 5, 9)."""
        keep = len(self._cached)
        started = time.perf_counter()
        self._decode(list(batch), logits_all=len(batch) > 1)
        elapsed = (time.perf_counter() - started) * 1000
        self._truncate_cache(keep)
        return elapsed

    def draft_greedy(self, tokens: Sequence[int], max_tokens: int) -> list[int]:
        """As a draft model: up to `max_tokens` greedy tokens after `tokens`, reusing this engine's KV cache
        (only what differs from the last call is evaluated, so an accepted draft costs nothing again). Stops
        early at a stop token."""
        self.prefill(tokens)
        guess: list[int] = []
        while len(guess) < max_tokens:
            token = int(np.argmax(self._last_logits()))
            if token in self._stop_ids:
                break
            guess.append(token)
            if len(guess) < max_tokens:
                self._decode([token])
        return guess

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

    def _shift(self, plan: ReusePlan) -> bool:
        """Put the plan's runs in place after its head: drop the cached tokens no run keeps, then move
        each run to its place in the prompt (`llama_memory_seq_rm`, `llama_memory_seq_add`): left after a
        deletion, right after an insertion (its gap is evaluated next, `_fill_gap`). Runs moving right go
        last first and runs moving left first, so a range never catches a run already moved into it.
        Returns whether anything moved; if llama.cpp refuses, the cache is emptied."""
        if not plan.runs:
            return False
        context = self._llama._ctx
        kept = plan.head
        for start, _, length in plan.runs:
            if not context.kv_cache_seq_rm(0, kept, start):
                self.reset()  # nothing has moved yet, but a refused removal leaves the cache unknown
                return False
            kept = start + length
        if not context.kv_cache_seq_rm(0, kept, -1):
            self.reset()
            return False
        right = [run for run in plan.runs if run[1] > run[0]]
        left = [run for run in plan.runs if run[1] < run[0]]
        for start, place, length in [*reversed(right), *left]:
            context.kv_cache_seq_shift(0, start, start + length, place - start)
        return True

    def _fill_gap(
        self,
        prompt: Sequence[int],
        start: int,
        end: int,
        ready: int,
        step: int,
        cancel: CancelCheck | None,
        limit: int | None = None,
    ) -> None:
        """Evaluate `prompt[start:end]`, new text before a run that `_shift` moved right, in the scratch
        sequence: it shares the cached tokens before `start` (`llama_memory_seq_cp`, no copy of keys or
        values), evaluates the gap at its end (llama.cpp decodes a sequence only at its end), and gives
        the gap's cells back to sequence 0. The run after the gap keeps the keys it was computed with,
        before the gap existed (docs/performance.md measures what that costs). The cache then holds the
        prompt up to `ready` (the next gap, or the last run's end); until then only up to `start` (other
        threads read `cached_tokens` for estimates). `_gap` records the progress for `_keep_gap_progress`.
        A `limit` inside the gap (or before it) stops there: raises `_Stopped`, the progress recorded."""
        context = self._llama._ctx
        context.kv_cache_seq_cp(0, SCRATCH_SEQUENCE, 0, start)
        self._gap = (start, start)
        stop = end if limit is None else max(start, min(end, limit))
        for position in range(start, stop, step):
            if cancel is not None and cancel():
                raise Cancelled("cancelled during prompt evaluation")
            batch_end = min(position + step, stop)
            self._decode_scratch(prompt[position:batch_end], position)
            self._gap = (start, batch_end)
        if stop < end:
            raise _Stopped
        context.kv_cache_seq_cp(SCRATCH_SEQUENCE, 0, start, end)
        context.kv_cache_seq_rm(SCRATCH_SEQUENCE, -1, -1)
        self._gap = None
        self._cached = list(prompt[:ready])

    def _keep_gap_progress(self, prompt: Sequence[int], plan: ReusePlan) -> None:
        """After a cancel (or `stop_at`) inside a gap: keep what the gap evaluated, and the runs after it
        moved left to follow it, so the next prefill goes on from there (a snapshot that holds the runs would
        otherwise win over the live cache, and a gap longer than the time between requests would never
        finish). Then rotate the moved keys at once (a decode of one token in the scratch sequence): a
        snapshot taken before a decode would keep them unrotated (kv-shift notes)."""
        context = self._llama._ctx
        start, done = self._gap
        self._gap = None
        context.kv_cache_seq_cp(SCRATCH_SEQUENCE, 0, start, done)
        context.kv_cache_seq_rm(SCRATCH_SEQUENCE, -1, -1)
        position = done
        for _, place, length in plan.runs:
            if place >= done:  # the runs after this gap (those before it are in prompt[:done])
                context.kv_cache_seq_shift(0, place, place + length, position - place)
                position += length
        self._cached = kept_after_stop(prompt, plan, done)
        self._decode_scratch(prompt[:1], 0)
        context.kv_cache_seq_rm(SCRATCH_SEQUENCE, -1, -1)

    def _decode_scratch(self, tokens: Sequence[int], position: int) -> None:
        """Evaluate `tokens` from `position` on in the scratch sequence, without logits."""
        batch = self._llama._batch.batch
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, position + i, 1, False
            batch.seq_id[i][0] = SCRATCH_SEQUENCE
        self._llama_decode()

    def _truncate_cache(self, keep: int) -> None:
        if keep < len(self._cached):
            if not self._llama._ctx.kv_cache_seq_rm(0, keep, -1):
                self.reset()
                return
            del self._cached[keep:]

    def _decode(self, batch: list[int], logits_all: bool = False) -> None:
        """Evaluate `batch` after the cached tokens; logits are kept for its last token only, or for each
        of its tokens with `logits_all` (read them with `_logprobs_at(i)`)."""
        self._llama._batch.set_batch(batch, n_past=len(self._cached), logits_all=logits_all)
        self._llama_decode()
        self._cached.extend(batch)

    def _llama_decode(self) -> None:
        """Run llama.cpp on the batch as filled; an abort raises Cancelled, a failure empties the cache."""
        try:
            self._llama._ctx.decode(self._llama._batch)
        except RuntimeError as error:
            if str(error).endswith(f"returned {DECODE_ABORTED}"):  # llama.cpp removed the batch it stopped
                raise Cancelled("cancelled during prompt evaluation (within a batch)") from None
            self.reset()
            raise EngineError(f"llama.cpp decode failed: {error}") from error

    def _sample(
        self, temperature: float, rng: np.random.Generator, allowed: np.ndarray | None = None
    ) -> tuple[int, float]:
        """Next token and its log-probability (the model's, unconstrained), from the logits of the last
        evaluated position; `allowed`: a mask over the vocabulary of the tokens it may be (None: any)."""
        logits = self._last_logits()
        choices = logits if allowed is None else np.where(allowed, logits, -np.inf)
        if temperature <= 0:
            token = int(np.argmax(choices))
        else:
            scaled = choices.astype(np.float64) / temperature  # choice() wants p to sum to 1 in float64
            probs = np.exp(scaled - scaled.max())
            token = int(rng.choice(self._n_vocab, p=probs / probs.sum()))
        return token, _logprob(logits, token)

    def _last_logits(self) -> np.ndarray:
        """The logits after the last evaluated token: float32, shape (n_vocab,); a copy (the next decode
        overwrites llama.cpp's)."""
        pointer = self._llama._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def _last_logprobs(self) -> np.ndarray:
        logits = self._last_logits()
        return logits - _logsumexp(logits)

    def _logprobs_at(self, i: int) -> np.ndarray:
        """Log-probs after the `i`-th token of the last batch (decoded with `logits_all`); a copy."""
        logits = self._logits_at(i)
        return logits - _logsumexp(logits)

    def _logits_at(self, i: int) -> np.ndarray:
        """Logits after the `i`-th token of the last batch (decoded with `logits_all`); a copy."""
        pointer = self._llama._ctx.get_logits_ith(i)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()


def _logprob(logits: np.ndarray, token: int) -> float:
    return float(logits[token] - _logsumexp(logits))


class _Output:
    """A generation's tokens as they are accepted, and the rules that end it (a stop token, `max_tokens`,
    the caller's `should_stop`, the `deadline` once a whole line is written), shared by plain and
    speculative decoding."""

    def __init__(
        self,
        detokenize,
        stop_ids: set[int],
        max_tokens: int,
        should_stop: StopCheck | None,
        deadline: float | None = None,
        healed_chars: int = 0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        """`deadline`: a `clock()` time, `GenerationConfig.max_generation_ms` after the prompt;
        `healed_chars`: the output's first characters that only write the healed text again (the user's,
        not a line of the model's)."""
        self._detokenize = detokenize
        self._stop_ids = stop_ids
        self._max_tokens = max_tokens
        self._should_stop = should_stop
        self._deadline = deadline
        self._healed_chars = healed_chars
        self._clock = clock
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        self.ends: list[int] = []
        self._pieces: list[bytes] = []
        self.text = ""
        self.stop_reason = "max_tokens"
        self.done = max_tokens <= 0
        self.drafted = 0
        self.accepted = 0
        self.draft_ms = 0.0

    @property
    def remaining(self) -> int:
        return self._max_tokens - len(self.ids)

    @property
    def raw(self) -> bytes:
        """The output's bytes (its text may still lack the end of a character split across tokens)."""
        return b"".join(self._pieces)

    def add(self, token: int, logprob: float) -> bool:
        """Take the next token; False once the generation has ended (the token may end it)."""
        if token in self._stop_ids:
            self.stop_reason, self.done = "stop_token", True
            return False
        self.ids.append(token)
        self.logprobs.append(logprob)
        self._pieces.append(self._detokenize([token]))
        self.text = b"".join(self._pieces).decode("utf-8", errors="ignore")
        self.ends.append(len(self.text))
        if self._should_stop is not None and self._should_stop(self.text):
            self.stop_reason, self.done = "should_stop", True
        elif len(self.ids) >= self._max_tokens:
            self.done = True
        elif self._deadline is not None and self._clock() >= self._deadline and self._has_whole_line():
            self.stop_reason, self.done = "max_generation_ms", True
        return not self.done

    def _has_whole_line(self) -> bool:
        """Whether a line with text of the model's ends in the output (the partial line after it is the
        caller's to drop: `postprocess.process` with `cut_off`)."""
        return postprocess.has_whole_line(self.text[self._healed_chars :])


def _logsumexp(values: np.ndarray) -> float:
    """log(sum(exp(values))) of float32 logits: exponentials in float32, their sum in float64. Reading a
    token this way costs 0.43 ms against 1.27 ms with every logit converted to float64 first, paid at each
    generated token (~1% of one here); log-probabilities agree to ~1e-6 (runs/logits_cost.py)."""
    peak = values.max()
    return float(peak) + float(np.log(np.exp(values - peak).sum(dtype=np.float64)))


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass(frozen=True)
class ReusePlan:
    """What of a KV cache serves a new prompt: its first `head` tokens in place, then `runs`, each a
    (start in the cache, start in the prompt, length) stretch of cached tokens equal to the prompt's there,
    shifted into place. Prompt tokens between them (`gaps`, text the prompt gained) are evaluated.
    `reused` counts the head and the runs; the prompt's last token is never among them (its logits are
    needed)."""

    head: int
    runs: tuple[tuple[int, int, int], ...] = ()

    @property
    def reused(self) -> int:
        return self.head + sum(length for _, _, length in self.runs)

    @property
    def end(self) -> int:
        """Where the last run ends in the prompt (the head's end without runs)."""
        return self.runs[-1][1] + self.runs[-1][2] if self.runs else self.head

    @property
    def gaps(self) -> tuple[tuple[int, int], ...]:
        """The (start, end) stretches of the prompt before each run that no cached token holds."""
        gaps, position = [], self.head
        for _, place, length in self.runs:
            if place > position:
                gaps.append((position, place))
            position = place + length
        return tuple(gaps)

    @property
    def gap_tokens(self) -> int:
        return sum(end - start for start, end in self.gaps)

    def gap_tokens_before(self, position: int) -> int:
        """The gaps' tokens before `position` in the prompt (what a prefill stopped there evaluated)."""
        return sum(min(end, position) - start for start, end in self.gaps if start < position)


def reuse_plan(
    cached: Sequence[int], prompt: Sequence[int], min_run_tokens: int = 0, insertions: bool = False
) -> ReusePlan:
    """The common prefix of `cached` and `prompt`, then, with `min_run_tokens` > 0, the runs of at least that
    many cached tokens that continue the prompt after cached tokens it no longer has (a deletion: the
    prefix window's start moved down, so the lines it left are gone from the prompt). The algorithm of
    llama-server's `--cache-reuse N` (tools/server/server.cpp): walk the cache; where a run of ≥ N tokens
    equals the prompt's next ones, keep it and go on after it on both sides; elsewhere skip a cached token.
    With `insertions`, a run may also follow prompt text the cache does not hold, where that text is among
    the other files (the context engine chose another snippet): walk the prompt instead, and take the first
    run of ≥ N tokens it shares with the cache after the last run on both sides (`_runs_after_insertions`).
    Text gained in the file's own parts ends reuse there, as without `insertions`."""
    if not prompt:
        return ReusePlan(0)
    last = len(prompt) - 1
    head = min(common_prefix(cached, prompt), last)
    if min_run_tokens <= 0 or min(last, len(cached)) - head < min_run_tokens:
        return ReusePlan(head)
    find = _runs_after_insertions if insertions else _runs_after_deletions
    return ReusePlan(head, tuple(find(cached, prompt, head, min_run_tokens)))


def _runs_after_deletions(cached: Sequence[int], prompt: Sequence[int], head: int, n: int) -> list:
    last = len(prompt) - 1
    parts: tuple[list[int], list[int]] | None = None  # computed once a run is found (typing finds none)
    runs, c, p = [], head, head
    while c < len(cached) and last - p >= n:
        length = _run_length(cached, prompt, c, p)
        if length >= n:
            parts = parts or (_parts(cached), _parts(prompt))
            if parts[0][c] == parts[1][p]:
                runs.append((c, p, length))
                c, p = c + length, p + length
                continue
        c += 1
    return runs


def _runs_after_insertions(cached: Sequence[int], prompt: Sequence[int], head: int, n: int) -> list:
    """Runs of ≥ n tokens found through the cache's (n/2)-grams: a run that long holds the gram at one of
    the prompt positions p, p + n/2, ..., so only those are looked up (a request in another document's
    snapshot costs ~0.1 ms, not one lookup per token), and each hit grows back and forth into its run."""
    cached, prompt, last = tuple(cached), tuple(prompt), len(prompt) - 1
    k = max(1, n // 2)
    grams = _gram_starts(cached, k)
    parts: tuple[list[int], list[int]] | None = None
    runs, c, p = [], head, head
    steps = 0  # tokens compared; past RUN_SEARCH_MAX_STEPS the runs found so far are the plan
    while last - p >= n and steps <= RUN_SEARCH_MAX_STEPS:
        run = None
        for q in range(p, last - k + 1, k):
            starts = grams.get(prompt[q : q + k], ())
            for s in starts[bisect.bisect_left(starts, c) :]:
                parts = parts or (_parts(cached), _parts(prompt))
                if parts[0][s] != parts[1][q]:  # equal tokens between: the same as at the run's start
                    continue
                back = 0
                while s - back > c and q - back > p and cached[s - back - 1] == prompt[q - back - 1]:
                    back += 1
                start, place = s - back, q - back
                length = _run_length(cached, prompt, start, place)
                steps += back + length + 1
                if length >= n and (place == p or parts[1][place - 1] in _CONTEXT_PARTS):
                    run = (start, place, length)
                    break
                if steps > RUN_SEARCH_MAX_STEPS:
                    return runs
            if run is not None:
                break
        if run is None:
            break
        runs.append(run)
        c, p = run[0] + run[2], run[1] + run[2]
    return runs


@functools.lru_cache(maxsize=64)
def _gram_starts(tokens: tuple[int, ...], k: int) -> dict[tuple[int, ...], list[int]]:
    """Where each k-gram of `tokens` starts, in order, kept for the last 64 token lists: every snapshot in
    memory and on disk is planned against on each request (~0.3 MB per 1,000 tokens)."""
    starts: dict[tuple[int, ...], list[int]] = {}
    for i in range(len(tokens) - k + 1):
        starts.setdefault(tokens[i : i + k], []).append(i)
    return starts


def kept_after_stop(prompt: Sequence[int], plan: ReusePlan, done: int) -> list[int]:
    """What a KV cache holds after a prefill of `prompt` by `plan` stopped at `done` inside a gap (a
    cancel, or `stop_at`): the prompt up to there, then the runs after it, moved left to follow it."""
    kept = list(prompt[:done])
    for _, place, length in plan.runs:
        if place >= done:
            kept += prompt[place : place + length]
    return kept


def prefix_within(
    cached: Sequence[int],
    prompt: Sequence[int],
    tokens: int,
    min_run_tokens: int = 0,
    insertions: bool = False,
) -> int:
    """The end of the longest prefix of `prompt` whose evaluation over a cache holding `cached` costs at
    most `tokens` (the plan's head and runs are free, its gaps and the tail cost: a warm-up's share within
    a request's budget). A prefill of `prompt[:end]` would drop the cached runs past `end`;
    `Engine.prefill(prompt, stop_at=end)` keeps them."""
    plan = reuse_plan(cached, prompt, min_run_tokens, insertions)
    left, position = tokens, plan.head
    for _, place, length in plan.runs:
        if place - position >= left:
            break
        left -= place - position
        position = place + length
    return min(position + left, len(prompt))


def _prefix_range_end(keys: list[bytes], prefix: bytes) -> int:
    """The end of the range of sorted `keys` that start with `prefix` (non-empty)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return len(keys)
    bound = stripped[:-1] + bytes([stripped[-1] + 1])  # the first byte string after every one with the prefix
    return bisect.bisect_left(keys, bound)


def _run_length(cached: Sequence[int], prompt: Sequence[int], c: int, p: int) -> int:
    """How many cached tokens from `c` equal the prompt's from `p`, never its last token."""
    n, last = 0, len(prompt) - 1
    while c + n < len(cached) and p + n < last and cached[c + n] == prompt[p + n]:
        n += 1
    return n


def reusable_length(
    cached: Sequence[int], prompt: Sequence[int], min_run_tokens: int = 0, insertions: bool = False
) -> int:
    """How many tokens of `prompt` need no evaluation over a KV cache holding `cached`: the common prefix
    (all of it when the prompt is cached whole), or the `reuse_plan`'s head and runs."""
    common = common_prefix(cached, prompt)
    if min_run_tokens <= 0 or common >= len(prompt) - 1:
        return common
    return reuse_plan(cached, prompt, min_run_tokens, insertions).reused


# parts before the file's own text (`_parts`): the repo name and the other files. Text gained there is
# evaluated before the runs after it; text gained in the file's prefix, suffix or middle is not (replay v13:
# Python lost acceptance when the suffix's keys predated the lines typed above it)
_CONTEXT_PARTS = frozenset({0, fim.REPO_NAME, fim.FILE_SEP})
_PART_MARKERS = frozenset({fim.FIM_PREFIX, fim.FIM_SUFFIX, fim.FIM_MIDDLE, fim.FILE_SEP, fim.REPO_NAME})


def _parts(tokens: Sequence[int]) -> list[int]:
    """For each position, the last FIM / repo-level marker before it (0: none): a run is only moved within
    the same kind of part of the prompt (a line cached in the suffix, or in another file, was computed in
    another place, and stays unused where it comes back as prefix). Other files are one kind: a snippet
    may move from one file's place to another's when the context before it changed."""
    parts, marker = [], 0
    for token in tokens:
        parts.append(marker)
        if token in _PART_MARKERS:
            marker = token
    return parts
