"""The scheduler: one worker thread owns the engine and runs jobs one at a time.

- Completions go first. A warmup (priming the KV cache for a document, e.g. on a file switch) runs in
  small batches and yields as soon as a completion is waiting: a new completion interrupts the warmup's
  batch in flight (`Engine.interrupt`; it lands within milliseconds and that batch is discarded). What the
  warmup had evaluated stays (in the live cache or a snapshot), and a later warmup of the document goes
  on from there.
- A newer completion for the same document cancels the older one (queued, or running: it stops at the
  next batch or token boundary). A newer warmup for a document replaces a queued one.
- Before a job runs, the KV state of the document being left (or of the region left, on a jump inside the
  document) is copied into the snapshot cache, and the snapshot that shares the longest prefix with the
  job's prompt is restored when it beats the live cache.
- Schedulers of several engines on one CPU (the tiers) share a `Compute`: one job runs at a time across
  them, and a warmup on one yields to a completion waiting on any of them.

Callers get a `concurrent.futures.Future`; a cancelled job's future raises `Cancelled`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from nanocomplete.config import GenerationConfig
from nanocomplete.engine import Engine, Generation, common_prefix
from nanocomplete.errors import Cancelled, NanocompleteError, PromptError
from nanocomplete.kvcache import DiskSnapshots, SnapshotCache

WARM_BATCH_TOKENS = 64
SNAPSHOT_MIN_GAIN_TOKENS = 32  # restoring a snapshot must save at least this many tokens of evaluation
# a job in the live document that would evaluate away this many of its cached tokens (and a third of them) is
# a jump to another region: the region left is kept as a snapshot (`SnapshotCache`: several per document)
REGION_MIN_TOKENS = 256
# What a job may evaluate beyond `Scheduler.uncached_tokens`: a snapshot that gains less than the above is not
# restored, and a prompt the cache holds whole still evaluates its last token (for its logits).
ESTIMATE_SLACK_TOKENS = SNAPSHOT_MIN_GAIN_TOKENS + 1
WARM_RETRY_S = 0.01  # a warmup waiting for another engine's completion looks again after this


@dataclass(frozen=True)
class WarmResult:
    prompt_tokens: int
    prompt_tokens_evaluated: int
    prompt_tokens_reused: int
    prompt_ms: float


@dataclass(frozen=True)
class WarmShare:
    """Tokens of a document's full prompt that a completion answered from its bounded prompt evaluates
    first (`PromptConfig.cold_prompt_tokens`): the full prompt warms even when requests leave no idle time,
    and the request still evaluates at most its budget."""

    key: str  # the full prompt's scheduler key (the document's URI)
    prompt: tuple[int, ...]
    tokens: int  # the most tokens of `prompt` to evaluate, after what the caches hold


@dataclass
class Job:
    kind: str  # "complete" | "warm"
    key: str  # the document (its URI)
    prompt: Sequence[int]
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    should_stop: Callable[[str], bool] | None = None
    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.perf_counter)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    cache_outcome: str = "miss"  # "hit" (live cache holds half the prompt or more), "snapshot", "miss"
    queue_ms: float = 0.0
    document: str = ""  # the document it completes (its key may name one of the document's prompts)
    required_start: str = ""  # text the output must begin with (Engine.generate)
    warm_share: WarmShare | None = None  # a completion's share of another prompt, evaluated before it

    def __post_init__(self):
        self.document = self.document or self.key

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class Compute:
    """The CPU that one or more schedulers' engines share: one job runs at a time across them (two
    llama.cpp decodes on the same cores would each run at a fraction of their speed)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.schedulers: list[Scheduler] = []
        self._waiting = 0  # completions popped from a queue, waiting for the lock
        self._guard = threading.Lock()

    def interrupt_warmups(self) -> None:
        """A completion arrived: stop the warmup batch in flight on any of the engines (an engine not
        running an interruptible prefill ignores it)."""
        for scheduler in self.schedulers:
            scheduler.engine.interrupt()

    def completion_waiting(self) -> bool:
        """Whether a completion of any of the schedulers is queued or waiting for the CPU."""
        return self._waiting > 0 or any(s.has_queued_completion() for s in self.schedulers)

    @contextlib.contextmanager
    def run(self, job: Job):
        """Hold the CPU for `job`; a completion counts as waiting until it has it."""
        if job.kind != "complete":
            with self.lock:
                yield
            return
        with self._guard:
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._guard:
                self._waiting -= 1
        try:
            yield
        finally:
            self.lock.release()


@dataclass
class SchedulerStats:
    completions: int = 0
    warmups: int = 0
    cancelled: int = 0
    preempted_warmups: int = 0
    snapshot_restores: int = 0
    snapshot_saves: int = 0


# Queues a client cannot grow without bound. An editor has one completion and one warm-up in flight per
# document; beyond these, the oldest queued job is cancelled (a completion answers `cancelled`).
MAX_QUEUED_COMPLETIONS = 8
MAX_QUEUED_WARMUPS = 8


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        snapshot_budget_bytes: int = 256 * 1024 * 1024,
        reuse_kv: bool = True,
        disk: DiskSnapshots | None = None,
        compute: Compute | None = None,
    ):
        """`reuse_kv=False` is the naive baseline for benchmarks: every job starts from an empty cache.
        `disk` keeps the snapshots across restarts; at `close` the live document's state goes there too.
        `compute`: the CPU shared with other schedulers (default: this one's own)."""
        self.engine = engine
        self.compute = compute or Compute()
        self.compute.schedulers.append(self)
        self.reuse_kv = reuse_kv
        self.snapshots = SnapshotCache(snapshot_budget_bytes, disk if reuse_kv else None, engine.reusable)
        self.stats = SchedulerStats()
        self._live_key: str | None = None  # the document whose prompt the live KV cache holds
        self._running: Job | None = None
        self._completions: list[Job] = []
        self._warmups: list[Job] = []
        self._condition = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="nanocomplete-engine", daemon=True)
        self._thread.start()

    # --- submitting ---

    def complete(
        self,
        key: str,
        prompt: Sequence[int],
        generation: GenerationConfig,
        should_stop: Callable[[str], bool] | None = None,
        document: str | None = None,
        required_start: str = "",
        warm_share: WarmShare | None = None,
    ) -> Job:
        """Queue a completion of `prompt`, whose KV state is kept under `key`; it cancels the older
        completions of the same `document` (default: `key`). `required_start`: as in `Engine.generate`.
        `warm_share`: part of another prompt to evaluate first; the result's timings count its tokens."""
        job = Job(
            "complete", key, prompt, generation, should_stop,
            document=document or key, required_start=required_start, warm_share=warm_share,
        )  # fmt: skip
        with self._condition:
            self._check_open()
            for older in self._completions:
                if older.document == job.document:
                    older.cancel()
            running = self._running
            if running is not None and running.document == job.document and running.kind == "complete":
                running.cancel()
            self._completions.append(job)
            self._trim_completions()
            self._condition.notify()
        self.compute.interrupt_warmups()  # after the append: a warmup that starts now sees the completion
        return job

    @property
    def live_key(self) -> str | None:
        """The document whose prompt the live KV cache holds (the others' are in `snapshots`)."""
        return self._live_key

    def uncached_tokens(self, prompt: Sequence[int]) -> int:
        """How many tokens of `prompt` a job would evaluate: those that the live KV cache does not hold
        (its prefix, and runs it can shift into place), or those after the longest prefix a snapshot
        holds (a read from the request's thread; a moment's staleness is fine)."""
        if not self.reuse_kv:
            return len(prompt)
        held = max(self.engine.reusable_tokens(prompt), self.snapshots.longest_prefix(prompt))
        return len(prompt) - held

    def warm(self, key: str, prompt: Sequence[int]) -> Job:
        job = Job("warm", key, prompt, document=key)
        with self._condition:
            self._check_open()
            for older in [w for w in self._warmups if w.key == key]:
                self._warmups.remove(older)
                older.future.set_exception(Cancelled("replaced by a newer warmup"))
            self._warmups.append(job)
            for oldest in self._warmups[: max(0, len(self._warmups) - MAX_QUEUED_WARMUPS)]:
                self._warmups.remove(oldest)
                oldest.future.set_exception(Cancelled("dropped: too many warm-ups queued"))
            self._condition.notify()
        return job

    def cancel_document(self, document: str) -> None:
        """Cancel the completions of `document`, queued or running (a newer request went elsewhere)."""
        with self._condition:
            for job in self._completions:
                if job.document == document:
                    job.cancel()
            running = self._running
            if running is not None and running.document == document and running.kind == "complete":
                running.cancel()

    def has_queued_completion(self) -> bool:
        """Whether a completion waits in this scheduler's queue (lock-free read)."""
        return bool(self._completions)

    def completing(self) -> bool:
        """Whether a completion is running or queued (a lock-free read: a moment's staleness is fine)."""
        running = self._running
        return bool(self._completions) or (running is not None and running.kind == "complete")

    def close(self) -> None:
        with self._condition:
            self._closed = True
            for job in self._completions + self._warmups:
                job.cancel()
            if self._running is not None:
                self._running.cancel()
            self._condition.notify_all()
        self.engine.interrupt()
        self._thread.join(timeout=10)
        if self.snapshots.disk is not None and not self._thread.is_alive():
            if self._live_key is not None and self.engine.cached_tokens:
                self.snapshots.put(self._live_key, self.engine.snapshot())
            self.snapshots.close()

    def _trim_completions(self) -> None:
        """Cancel the oldest queued completions beyond MAX_QUEUED_COMPLETIONS and take every cancelled one
        out of the queue now (the caller holds the condition), so that a client resending while the engine
        is busy cannot grow it; their requests answer `cancelled`."""
        waiting = [queued for queued in self._completions if not queued.cancelled]
        for oldest in waiting[: max(0, len(waiting) - MAX_QUEUED_COMPLETIONS)]:
            oldest.cancel()
        for job in [queued for queued in self._completions if queued.cancelled]:
            self._completions.remove(job)
            self.stats.cancelled += 1
            job.future.set_exception(Cancelled("superseded before it ran"))

    def _check_open(self) -> None:
        if self._closed:
            raise NanocompleteError("the engine is shutting down")

    # --- the worker ---

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._closed and not self._completions and not self._warmups:
                    self._condition.wait()
                if self._closed:
                    self._fail_queued()
                    return
                if not self._completions and self.compute.completion_waiting():
                    self._condition.wait(WARM_RETRY_S)  # another engine's completion goes first
                    continue
                job = self._completions.pop(0) if self._completions else self._warmups.pop(0)
                self._running = job
            try:
                with self.compute.run(job):
                    self._run(job)
            finally:
                with self._condition:
                    self._running = None

    def _run(self, job: Job) -> None:
        job.queue_ms = (time.perf_counter() - job.submitted) * 1000
        if job.cancelled:
            self.stats.cancelled += 1
            job.future.set_exception(Cancelled("superseded before it ran"))
            return
        try:
            warmed = self._warm_share(job) if job.warm_share is not None else None
            self._switch_to(job)
            result = self._complete(job) if job.kind == "complete" else self._warm(job)
            if warmed is not None:
                result = _with_warm_share(result, warmed)
        except Cancelled as error:
            if job.kind == "warm":
                self.stats.preempted_warmups += 1
            else:
                self.stats.cancelled += 1
            job.future.set_exception(error)
        except Exception as error:  # reported to the waiting request; the worker lives on
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    def _complete(self, job: Job) -> Generation:
        result = self.engine.generate(
            job.prompt, job.generation, job.should_stop, lambda: job.cancelled, job.required_start
        )
        self.stats.completions += 1
        return result

    def _warm(self, job: Job) -> WarmResult:
        started = time.perf_counter()

        def yield_to_completions() -> bool:
            return job.cancelled or self.compute.completion_waiting() or self._closed

        evaluated, reused = self.engine.prefill(
            job.prompt, yield_to_completions, WARM_BATCH_TOKENS, interruptible=True
        )
        self.stats.warmups += 1
        return WarmResult(len(job.prompt), evaluated, reused, (time.perf_counter() - started) * 1000)

    def _warm_share(self, job: Job) -> WarmResult:
        """Evaluate the next `job.warm_share.tokens` of the full prompt, as part of the completion: not
        yielding to other completions (this is one), stopping between batches if the job is cancelled."""
        share, started = job.warm_share, time.perf_counter()
        self._switch_to(Job("warm", share.key, share.prompt, document=job.document))
        end = self.engine.prefix_within(share.prompt, share.tokens)
        # stopped inside new text before cached runs, the runs stay (moved left to follow it): a share
        # that waited for the whole gap to fit never began when requests leave no idle time (replay v22)
        try:
            evaluated, held = self.engine.prefill(share.prompt, lambda: job.cancelled, stop_at=end)
        except PromptError:  # the full prompt does not fit the context window: the bounded one still answers
            return WarmResult(0, 0, 0, (time.perf_counter() - started) * 1000)
        return WarmResult(end, evaluated, held, (time.perf_counter() - started) * 1000)

    def _switch_to(self, job: Job) -> None:
        """Keep the document being left as a snapshot; restore the best snapshot for this prompt."""
        if not self.reuse_kv:
            self.engine.reset()
            return
        live = self.engine.reusable_tokens(job.prompt)
        snapshot_key, snapshot, length = self.snapshots.best(job.prompt)
        leaving = self._live_key is not None and self._live_key != job.key
        # what stays in place, not what a shift would reuse: shifting drops the rest of the document left
        cached = self.engine.cached_tokens
        # a jump inside the document: most of its cached region would be evaluated away
        jumping = self._live_key == job.key and len(cached) - live >= max(REGION_MIN_TOKENS, len(cached) // 3)
        discarding = common_prefix(cached, job.prompt) < len(cached) - SNAPSHOT_MIN_GAIN_TOKENS
        if (leaving and discarding) or jumping:
            self.snapshots.put(self._live_key, self.engine.snapshot())
            self.stats.snapshot_saves += 1
        if snapshot is not None and length > live + SNAPSHOT_MIN_GAIN_TOKENS:
            self.engine.restore(snapshot)
            self.snapshots.touch(snapshot_key)
            self.stats.snapshot_restores += 1
            job.cache_outcome = "snapshot"
        elif live >= len(job.prompt) / 2:
            job.cache_outcome = "hit"
        self._live_key = job.key

    def _fail_queued(self) -> None:
        for job in self._completions + self._warmups:
            job.future.set_exception(Cancelled("the engine is shutting down"))
        self._completions.clear()
        self._warmups.clear()


def _with_warm_share(generation: Generation, warmed: WarmResult) -> Generation:
    """The completion's result, its prompt timings counting the warm share evaluated before it."""
    timings = replace(
        generation.timings,
        prompt_tokens_evaluated=generation.timings.prompt_tokens_evaluated + warmed.prompt_tokens_evaluated,
        prompt_ms=generation.timings.prompt_ms + warmed.prompt_ms,
        warm_share_tokens=warmed.prompt_tokens_evaluated,
    )
    return replace(generation, timings=timings)
