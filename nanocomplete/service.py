"""The completion service behind the HTTP routes: API documents → prompt (with cross-file context) →
scheduler → post-processing → API responses. Per document it remembers what keeps requests cheap:

- the prefix start line and the middle's start line (passed back to the prompt builder, so the prompt's
  start does not slide, and the lines typed since stay after <|fim_middle|> instead of moving the suffix);
- the cross-file context it chose ("sticky": kept while the cursor stays within `STICKY_CONTEXT_LINES`
  lines and the document's imports are unchanged, because a changed context re-evaluates the whole prompt;
  a choice made before the workspace's first indexing pass ended is made again once it has);
- the last completion, so that typing the characters it suggested is answered without the model.

Workspaces are indexed in a background thread, within bounds (`index.py`); a request gets the context of
what is indexed so far (indexing never delays a completion).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nanocomplete import api, context, models, postprocess
from nanocomplete.completion import Prepared, Settings, finish, prepare, prompt_explanation, split_at
from nanocomplete.config import ContextConfig, IndexConfig, ServerConfig, disabled_files_matcher
from nanocomplete.engine import Engine
from nanocomplete.errors import ModelError, PromptError
from nanocomplete.index import Workspaces
from nanocomplete.kvcache import DiskSnapshots
from nanocomplete.prompt import ExtraFile, FimInput, auto_closed_rest, cold_config
from nanocomplete.scheduler import ESTIMATE_SLACK_TOKENS, Compute, Job, Scheduler, WarmShare
from nanocomplete.telemetry import EventStore, Metrics
from nanocomplete.workspace import Workspace

PROMPT_LOG = logging.getLogger("nanocomplete.prompts")
COLD_KEY_SUFFIX = "#cold"  # the scheduler keeps a document's bounded prompt apart from its full one
STICKY_CONTEXT_LINES = 15
MAX_DOCUMENTS = 256
REMEMBERED_CHARS = 4096  # of the text before and after the cursor, per document, for typing through
IMPORT_LINE = re.compile(
    r"^[ \t]*(?:import\s|from\s+\S+\s+import\s|export\s.*\sfrom\s).*$|^.*require\(.*$", re.M
)


@dataclass
class DocumentState:
    prefix_start_line: int | None = None
    middle_start_line: int | None = None
    cold_prefix_start_line: int | None = None  # the same two for the bounded (cold) prompt
    cold_middle_start_line: int | None = None
    context_line: int = -1
    context_signature: str = ""
    context_before_index: bool = False  # chosen before the workspace's first index pass ended
    context_files: tuple[ExtraFile, ...] = ()
    context_header: tuple[tuple[int, str], ...] = ()
    # the last answer, for typing through it: the text around the cursor it answered (at most
    # REMEMBERED_CHARS each side, with the lengths: a document's state stays small however large the file;
    # an edit farther away that keeps the length goes unseen, and the suggestion near the cursor stands)
    last_prefix_end: str = ""
    last_prefix_chars: int = 0
    last_suffix_start: str = ""
    last_suffix_chars: int = 0
    last_completion: str = ""


@dataclass
class Pending:
    """A completion on its way: either a queued `job` or an immediate `answer`."""

    request: api.CompleteRequest
    job: Job | None
    prepared: Prepared | None
    fim_input: FimInput
    position: api.Position
    started: float
    answer: api.CompleteResponse | None = None
    cold_prompt: bool = False  # answered from the bounded prompt (`PromptConfig.cold_prompt_tokens`)
    window_moved: bool = False  # the prefix window's start moved since the document's last request
    key: str = ""  # the scheduler key of the prompt it runs (the document's URI, or its bounded prompt's)
    warm_first: tuple[int, ...] = ()  # the full prompt, warmed after a bounded one answers
    warm_share: WarmShare | None = None  # the part of the full prompt it evaluates before the bounded one
    uncached_tokens: int = 0  # prompt tokens the job will evaluate (as the caches hold them when planned)
    tier: str = "fast"  # the tier of the service that planned it
    tier_reason: str = "asked"  # why that tier (api.CompleteResponse.tier_reason)


class CompletionService:
    def __init__(
        self,
        engine: Engine,
        model_name: str,
        settings: Settings,
        context_config: ContextConfig = ContextConfig(),
        server: ServerConfig = ServerConfig(),
        events: EventStore | None = None,
        reuse_kv: bool = True,
        index: IndexConfig = IndexConfig(),
        tier: str = "fast",
        shared: Shared | None = None,
    ):
        """`reuse_kv=False` is the naive baseline (no KV reuse, no typing-through answers) for benchmarks.
        `tier` names the tier it serves (in its responses); `shared` is what it shares with the other
        tiers' services (tiers.py): the CPU, the workspace indexes, the metrics, and its share of the KV
        snapshot budgets (a fraction of `server`'s)."""
        self.engine = engine
        self.model_name = model_name
        self.tier = tier
        self.settings = settings
        self.context_config = context_config
        self.reuse_kv = reuse_kv
        self.log_prompts = server.log_prompts
        budget_share = shared.budget_share if shared else 1.0
        self.scheduler = Scheduler(
            engine,
            int(server.kv_snapshot_budget_mb * 2**20 * budget_share),
            reuse_kv,
            _disk_snapshots(engine, server, reuse_kv, budget_share),
            shared.compute if shared else None,
        )
        self.workspaces = shared.workspaces if shared else Workspaces(index, busy=self.busy)
        self._disabled = disabled_files_matcher(self.workspaces.config.disabled_globs)  # the server's globs
        if settings.prompt.heal_trailing_whitespace or settings.prompt.heal_last_token:
            threading.Thread(target=engine.prepare_vocabulary, name="vocabulary", daemon=True).start()
        self._preparing = 0
        self._preparing_guard = threading.Lock()
        self.metrics = shared.metrics if shared else Metrics()
        self.events = events
        self._documents: dict[str, DocumentState] = {}
        # documents outside an indexed workspace share this one: it keeps their last syntax trees, so a
        # keystroke reparses only what changed instead of the whole document
        self._loose = (Workspace(), threading.Lock())

    # --- completions ---

    def submit(self, request: api.CompleteRequest) -> Pending:
        """Start a completion: answered at once when the user typed through the last completion,
        otherwise queued on the scheduler."""
        with self.preparing():
            return self.start(self.plan(request))

    @contextlib.contextmanager
    def preparing(self):
        """While a completion is being prepared, background indexing waits (see `busy`)."""
        with self._preparing_guard:
            self._preparing += 1
        try:
            yield
        finally:
            with self._preparing_guard:
                self._preparing -= 1

    def busy(self) -> bool:
        """Whether a completion is being prepared, queued or run (background indexing waits meanwhile)."""
        return self._preparing > 0 or self.scheduler.completing()

    @property
    def model_names(self) -> dict[str, str]:
        """The model of each tier served: this service's one."""
        return {self.tier: self.model_name}

    def plan(self, request: api.CompleteRequest) -> Pending:
        """The completion's prompt and what it costs, nothing queued yet (`start` queues it): an `answer`
        at once when the user typed through the last completion. ModelError for a tier it does not serve."""
        self._check_tier(request)
        started = time.perf_counter()
        if self.disabled_file(request):
            return self._disabled_answer(request, started)
        fim_input, position = self.fim_input(request)
        state = self._state(request.uri)
        settings = self.settings_for(request)
        typed_through = self._typed_through(state, fim_input) if self.reuse_kv else None
        if typed_through is not None:
            self._remember(state, fim_input, typed_through)
            self.metrics.observe_completion(None, "result_cache")
            answer = self._response(
                request, typed_through, position, "result_cache", None, fim_input.suffix,
                fim_input.line_prefix,
            )  # fmt: skip
            return Pending(request, None, None, fim_input, position, started, answer, tier=self.tier)
        moved_from = state.prefix_start_line
        prepared = self._prepare(state, fim_input, settings)
        window_moved = moved_from is not None and moved_from != prepared.prompt.prefix_start_line
        pending = Pending(
            request, None, prepared, fim_input, position, started,
            window_moved=window_moved, key=request.uri, tier=self.tier,
        )  # fmt: skip
        cold = self._cold(state, fim_input, settings, prepared)
        if cold is None:
            pending.uncached_tokens = self.scheduler.uncached_tokens(prepared.prompt.tokens)
        else:
            self._answer_from_bounded(pending, cold, settings)
        return pending

    def disabled_file(self, document: api.Document) -> bool:
        """Whether the document's own path matches `disabled_files` (the server's or the request's): a
        file of secrets, never read, evaluated or kept in a KV snapshot, whatever client sends it."""
        return self._disabled_matcher(document)(relative_path(document.uri, document.workspace_root))

    def _disabled_matcher(self, document: api.Document) -> Callable[[str], bool]:
        editor = disabled_files_matcher(tuple(document.disabled_files))  # apart: cannot undo the server's
        return lambda path: self._disabled.matches(path) or editor.matches(path)

    def _disabled_answer(self, request: api.CompleteRequest, started: float) -> Pending:
        """The empty answer of a disabled file, nothing of its text used but the cursor's position."""
        _, _, position = document_text(request)
        answer = self._response(request, "", position, "none", None)
        answer.disabled_file = True
        return Pending(request, None, None, FimInput("", ""), position, started, answer, tier=self.tier)

    def _answer_from_bounded(self, pending: Pending, cold: Prepared, settings: Settings) -> None:
        """Plan the completion from the bounded prompt `cold`. The full prompt gets the budget's tokens
        that the bounded one leaves, evaluated before it (`WarmShare`: it warms even when requests leave no
        idle time), and the rest in the background."""
        full = tuple(pending.prepared.prompt.tokens)
        uri = pending.request.uri
        pending.warm_first, pending.prepared = full, cold
        pending.key, pending.cold_prompt = uri + COLD_KEY_SUFFIX, True
        bounded = self.scheduler.uncached_tokens(cold.prompt.tokens)
        share = max(0, settings.prompt.cold_prompt_tokens - bounded - ESTIMATE_SLACK_TOKENS)
        pending.warm_share = WarmShare(uri, full, share) if share else None
        pending.uncached_tokens = bounded + share

    def start(self, pending: Pending) -> Pending:
        """Queue a planned completion on the scheduler (a planned `answer` needs nothing)."""
        if pending.answer is not None:
            return pending
        request, prepared = pending.request, pending.prepared
        settings = self.settings_for(request)
        if pending.warm_first:
            self.scheduler.warm(request.uri, pending.warm_first)
        pending.job = self.scheduler.complete(
            pending.key,
            prepared.prompt.tokens,
            settings.generation,
            prepared.should_stop(settings),
            request.uri,
            prepared.prompt.healed,
            pending.warm_share,
        )
        return pending

    def warm_planned(self, pending: Pending) -> Job | None:
        """Warm a planned completion's prompt instead of running it (another tier answers it)."""
        if pending.answer is not None or not self.reuse_kv:
            return None
        return self.scheduler.warm(pending.request.uri, pending.warm_first or pending.prepared.prompt.tokens)

    def types_through(self, document: api.Document) -> bool:
        """Whether the user has typed the beginning of this document's last completion since (the next
        request is then answered from it, without the model)."""
        state = self._documents.get(document.uri)
        if state is None or not self.reuse_kv:
            return False
        prefix, suffix, _ = document_text(document)
        return self._typed_through(state, FimInput(prefix, suffix)) is not None

    def finish(self, pending: Pending) -> api.CompleteResponse:
        """The response for a finished job (raises what the job raised, such as Cancelled); counted by the
        tier that answered and why, with one tier as with two."""
        if pending.answer is not None:
            self.metrics.tiers.labels(pending.tier, pending.tier_reason).inc()
            return pending.answer
        request, job = pending.request, pending.job
        completion = finish(pending.prepared, job.future.result(), self.settings_for(request))
        fim_input = pending.fim_input
        line_break = postprocess.document_line_break(fim_input.prefix, fim_input.suffix)
        text = postprocess.with_line_break(completion.text, line_break)
        self._remember(self._state(request.uri), fim_input, text)
        total_ms = (time.perf_counter() - pending.started) * 1000
        timings = api.Timings(
            **dataclasses.asdict(completion.timings), queue_ms=job.queue_ms, total_ms=total_ms
        )
        self.metrics.observe_completion(timings, job.cache_outcome)
        response = self._response(
            request, text, pending.position, job.cache_outcome, timings, fim_input.suffix,
            fim_input.line_prefix,
        )  # fmt: skip
        response.confidence = api.Confidence(
            mean_logprob=completion.mean_logprob, min_logprob=completion.min_logprob
        )
        response.hidden_by_confidence = completion.hidden
        response.stop_reason = completion.stop_reason
        response.cold_prompt = pending.cold_prompt
        response.prefix_window_moved = pending.window_moved
        if self.log_prompts:
            PROMPT_LOG.info(json.dumps(self.explain(pending.prepared, response)))
        self.metrics.tiers.labels(pending.tier, pending.tier_reason).inc()
        return response

    def explain(self, prepared: Prepared, response: api.CompleteResponse) -> dict:
        """Why this completion: the prompt as the model saw it, the context pieces chosen, the cache
        outcome and the timings (what `serve --log-prompts` logs)."""
        return {
            "request_id": response.request_id,
            **prompt_explanation(prepared.prompt, self.engine.detokenize),
            "cache": response.cache,
            "timings": response.timings.model_dump() if response.timings else None,
            "completion": response.completion,
            "hidden_by_confidence": response.hidden_by_confidence,
        }  # fmt: skip

    def cancelled_response(self, pending: Pending) -> api.CompleteResponse:
        self.metrics.requests.labels("complete", "cancelled").inc()
        response = self._response(pending.request, "", pending.position, "none", None)
        response.cancelled = True
        return response

    def warm(self, request: api.WarmRequest) -> api.WarmResponse:
        """Queue the document's warmups (`warm_jobs`). ModelError for a tier it does not serve."""
        self._check_tier(request)
        return api.WarmResponse(queued=bool(self.warm_jobs(request)))

    def _check_tier(self, request: api.CompleteRequest | api.WarmRequest) -> None:
        """ModelError when the request asks for a tier this service does not serve (auto: it does)."""
        if request.tier not in (None, "auto", self.tier):
            raise ModelError(
                f"this server has no {request.tier} tier (`serve --quality-model NAME` adds one)"
            )

    def warm_jobs(self, request: api.WarmRequest) -> list[Job]:
        """Queue the warmups of a document: the prompt its next completion will use, first the bounded
        one when the full one is not cached (see `_cold`); none for a disabled file."""
        if self.disabled_file(request):
            return []
        fim_input, _ = self.fim_input(request)
        state = self._state(request.uri)
        prepared = self._prepare(state, fim_input, self.settings)
        cold = self._cold(state, fim_input, self.settings, prepared)
        jobs = []
        if cold is not None:  # first what the next completion will use, then the full prompt
            jobs.append(self.scheduler.warm(request.uri + COLD_KEY_SUFFIX, cold.prompt.tokens))
        jobs.append(self.scheduler.warm(request.uri, prepared.prompt.tokens))
        return jobs

    def index_health(self) -> api.IndexHealth:
        """The workspace indexes' sizes, states and bounds."""
        return api.IndexHealth(
            limits={
                k: v
                for k, v in dataclasses.asdict(self.workspaces.config).items()
                if k.startswith("index_max")
            },
            workspaces=[
                api.WorkspaceIndexHealth(
                    name=index.root.name or str(index.root),
                    state="indexing" if index.running else "ready",
                    files=len(index.workspace.files),
                    bytes=index.indexed_bytes,
                    memory_mb=round(index.memory_bytes() / 2**20, 1),
                    passes=index.passes,
                    last_pass_s=round(index.last.seconds, 2) if index.last else None,
                    capped_by=index.last.capped_by if index.last else None,
                )
                for index in self.workspaces.all()
            ],
        )

    def close(self) -> None:
        self.scheduler.close()
        if self.events is not None:
            self.events.close()

    # --- documents ---

    def fim_input(self, document: api.Document) -> tuple[FimInput, api.Position]:
        """Prefix, suffix, path and cross-file context of an API document, and the cursor position."""
        prefix, suffix, position = document_text(document)
        root = document.workspace_root
        path = relative_path(document.uri, root)
        disabled = self._disabled_matcher(document)
        recent = tuple(ExtraFile(s.path, s.text) for s in document.recent if not disabled(s.path))
        fim_input = FimInput(prefix, suffix, path, Path(root).name if root else None, recent)
        fim_input = self._with_context(document, fim_input, position.line)
        if document.disabled_files:  # the index left out only the server's own globs
            allowed = tuple(f for f in fim_input.extra_files if not disabled(f.path))
            fim_input = dataclasses.replace(fim_input, extra_files=allowed)
        return fim_input, position

    def _with_context(self, document: api.Document, fim_input: FimInput, line: int) -> FimInput:
        budget = self.settings.prompt.max_context_tokens
        state = self._state(document.uri)
        signature = _imports_signature(fim_input.prefix)
        near = abs(line - state.context_line) <= STICKY_CONTEXT_LINES
        sticky = near and signature == state.context_signature
        if sticky and not state.context_before_index:
            return _with_selection(fim_input, state)
        found = self.workspaces.get(document.workspace_root) if document.workspace_root else None
        if sticky and not (found is not None and found.passes > 0):  # still indexing: keep it meanwhile
            return _with_selection(fim_input, state)
        header = context.HEADER in self.context_config.sources  # the document's own: needs no workspace
        if (budget <= 0 or (found is None and not fim_input.extra_files)) and not header:
            return dataclasses.replace(fim_input, extra_files=())
        workspace, lock = self._loose if found is None else (found.workspace, found.lock)
        if not lock.acquire(blocking=False):  # being re-indexed: keep what we had, never wait
            return _with_selection(fim_input, state)
        try:
            attached, _ = context.attach(
                fim_input, workspace, self.engine.tokenize, budget, self.context_config
            )
        finally:
            lock.release()
        state.context_line, state.context_signature = line, signature
        state.context_before_index = found is not None and found.passes == 0  # chosen again after it
        state.context_files, state.context_header = attached.extra_files, attached.header
        return attached

    def _prepare(self, state: DocumentState, fim_input: FimInput, settings: Settings) -> Prepared:
        """The prompt, from the document's last prefix and middle starts; remembers the new ones."""
        prepared = prepare(
            fim_input, self.engine.tokenize, settings, state.prefix_start_line, state.middle_start_line
        )
        state.prefix_start_line = prepared.prompt.prefix_start_line
        state.middle_start_line = prepared.prompt.middle_start_line
        return prepared

    def _cold(
        self, state: DocumentState, fim_input: FimInput, settings: Settings, full: Prepared
    ) -> Prepared | None:
        """The bounded prompt, when the full one would evaluate more than `cold_prompt_tokens`: the lines
        nearest the cursor, after the full prompt's other files if the KV cache holds them, else after the
        first `cold_context_tokens` of them (`prompt.cold_config`)."""
        budget = settings.prompt.cold_prompt_tokens
        if not self.reuse_kv or budget <= 0 or self.scheduler.uncached_tokens(full.prompt.tokens) <= budget:
            return None
        hints = (state.cold_prefix_start_line, state.cold_middle_start_line)
        # other files: those the KV cache holds (tried when there are any), else the first few
        for cached in (full.prompt.context_tokens, None) if full.prompt.context_tokens else (None,):
            bounded = dataclasses.replace(settings, prompt=cold_config(settings.prompt, cached))
            prepared = prepare(fim_input, self.engine.tokenize, bounded, *hints)
            if cached is None or self.scheduler.uncached_tokens(prepared.prompt.tokens) <= budget:
                break
        state.cold_prefix_start_line = prepared.prompt.prefix_start_line
        state.cold_middle_start_line = prepared.prompt.middle_start_line
        return prepared

    def _state(self, uri: str) -> DocumentState:
        """The document's state; the least recently used documents are forgotten past MAX_DOCUMENTS."""
        state = self._documents.pop(uri, None) or DocumentState()
        self._documents[uri] = state
        while len(self._documents) > MAX_DOCUMENTS:
            del self._documents[next(iter(self._documents))]
        return state

    def _typed_through(self, state: DocumentState, fim_input: FimInput) -> str | None:
        """The rest of the last completion when the user has typed its beginning since. The auto-closed
        characters right of the cursor may differ: typing `(` adds one, typing `)` steps over it, and the
        answer's range covers the ones the rest types again."""
        if not state.last_completion or not _same_after_auto_closed(fim_input.suffix, state):
            return None
        prefix, end, known = fim_input.prefix, state.last_prefix_chars, state.last_prefix_end
        if len(prefix) < end or not prefix.startswith(known, end - len(known)):
            return None
        typed = prefix[end:]
        if typed and state.last_completion.startswith(typed) and len(state.last_completion) > len(typed):
            rest = state.last_completion[len(typed) :]
            if fim_input.line_suffix.strip():  # closers right of the cursor: the first line only, as the
                rest = rest.partition("\n")[0].removesuffix("\r")  # model's answer would be (mid-line)
            return rest or None
        return None

    @staticmethod
    def _remember(state: DocumentState, fim_input: FimInput, completion: str) -> None:
        prefix, suffix = fim_input.prefix, fim_input.suffix
        state.last_prefix_end, state.last_prefix_chars = prefix[-REMEMBERED_CHARS:], len(prefix)
        state.last_suffix_start, state.last_suffix_chars = suffix[:REMEMBERED_CHARS], len(suffix)
        state.last_completion = completion

    def settings_for(self, request: api.CompleteRequest) -> Settings:
        """The server's settings with what the request sets in their place (`max_tokens`,
        `max_generation_ms`)."""
        asked = {
            name: getattr(request, name)
            for name in ("max_tokens", "max_generation_ms")
            if getattr(request, name) is not None
        }
        if not asked:
            return self.settings
        generation = dataclasses.replace(self.settings.generation, **asked)
        return dataclasses.replace(self.settings, generation=generation)

    def _response(
        self, request, text, position, cache, timings, suffix: str = "", line_prefix: str = ""
    ) -> api.CompleteResponse:
        """The answer; its range also covers the auto-closed characters after the cursor that the
        completion types again (`postprocess.covered_closers`; ASCII, one UTF-16 unit each)."""
        covered = postprocess.covered_closers(text, suffix.partition("\n")[0], line_prefix) if text else 0
        end = api.Position(line=position.line, character=position.character + covered)
        return api.CompleteResponse(
            request_id=request.request_id,
            completion=text,
            replace_range=api.Range(start=position, end=end),
            confidence=api.Confidence(mean_logprob=None, min_logprob=None),
            hidden_by_confidence=False,
            cancelled=False,
            cache=cache,
            timings=timings,
            model=self.model_name,
            tier=self.tier,
        )


def _same_after_auto_closed(suffix: str, state: DocumentState) -> bool:
    """Whether `suffix` is the remembered one, but for the auto-closed characters that open either (the
    lengths, and the remembered start, REMEMBERED_CHARS minus a line's closers at most)."""
    skipped, last_skipped = len(auto_closed_rest(suffix)), len(auto_closed_rest(state.last_suffix_start))
    if len(suffix) - skipped != state.last_suffix_chars - last_skipped:
        return False
    known = state.last_suffix_start[last_skipped:]
    return suffix.startswith(known, skipped)


@dataclass(frozen=True)
class Shared:
    """What the services of several tiers share (tiers.py builds it)."""

    compute: Compute
    workspaces: Workspaces
    metrics: Metrics
    budget_share: float  # this service's fraction of the KV snapshot budgets, memory and disk


def document_text(document: api.Document) -> tuple[str, str, api.Position]:
    """The text before and after an API document's cursor, and the cursor (from `text` and `cursor`, or
    from `prefix` and `suffix`)."""
    if document.text is not None:
        prefix, suffix = split_utf16(document.text, document.cursor.line, document.cursor.character)
        return prefix, suffix, document.cursor
    last_line = document.prefix.rpartition("\n")[2]
    position = api.Position(
        line=document.prefix.count("\n"), character=len(last_line.encode("utf-16-le")) // 2
    )
    return document.prefix, document.suffix, position


def default_kv_dir() -> Path:
    """Where KV snapshots are kept on disk unless `kv_snapshot_dir` says: beside the models, in kv/."""
    return models.cache_dir().parent / "kv"


def _disk_snapshots(
    engine: Engine, server: ServerConfig, reuse_kv: bool, budget_share: float = 1.0
) -> DiskSnapshots | None:
    """The on-disk KV snapshot store `server` asks for, with `budget_share` of its bytes (none for the
    naive baseline, or with 0 MB)."""
    if not reuse_kv or server.kv_snapshot_disk_mb <= 0:
        return None
    root = Path(server.kv_snapshot_dir) if server.kv_snapshot_dir else default_kv_dir()
    try:
        return DiskSnapshots(root, engine.identity, int(server.kv_snapshot_disk_mb * 2**20 * budget_share))
    except OSError as error:
        logging.getLogger("nanocomplete.kvcache").warning("KV snapshots stay in memory: %s", error)
        return None


def split_utf16(text: str, line: int, character: int) -> tuple[str, str]:
    """Split at a 0-based line and a column counted in UTF-16 code units (LSP / VS Code positions)."""
    lines = text.split("\n")
    if line >= len(lines):
        raise PromptError(
            f"cursor line {line} is out of range: the document has {len(lines)} lines, and lines start at 0 "
            f"(so 0 to {len(lines) - 1})"
        )
    encoded = lines[line].encode("utf-16-le")
    if character * 2 > len(encoded):
        units = len(encoded) // 2
        raise PromptError(
            f"cursor character {character} is out of range: line {line} has {units} UTF-16 code units, and "
            f"characters start at 0 (so 0 to {units}, the last one after its end)"
        )
    try:
        column = len(encoded[: character * 2].decode("utf-16-le"))
    except UnicodeDecodeError:
        raise PromptError(f"cursor character {character} splits a surrogate pair on line {line}") from None
    return split_at(text, line, column)


def relative_path(uri: str, root: str | None) -> str:
    """The document's path relative to the workspace root (its name when outside it or not a file)."""
    path = urllib.parse.unquote(urllib.parse.urlparse(uri).path) if uri.startswith("file:") else uri
    if root:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return Path(path).name or uri


def _with_selection(fim_input: FimInput, state: DocumentState) -> FimInput:
    """`fim_input` with the document's last context selection."""
    return dataclasses.replace(fim_input, extra_files=state.context_files, header=state.context_header)


def _imports_signature(prefix: str) -> str:
    """The import lines and where they are (a header line must keep its number); one pass over `prefix`."""
    lines, row, counted = [], 0, 0
    for match in IMPORT_LINE.finditer(prefix):
        row += prefix.count("\n", counted, match.start())
        counted = match.start()
        lines.append(f"{row}:{match.group(0)}")
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()
