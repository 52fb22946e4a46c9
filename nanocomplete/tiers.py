"""The tiers: a fast model and a quality model served side by side, and which one answers a request.

- `route` (pure): the trigger context. Typing mid-line (after `.`, `(`, an identifier, ...) goes to fast;
  a new line, a block start (a line ending in `{` or `=>`, or in a `:` outside brackets) or the line after
  a comment goes to quality: there a whole line or block is wanted, and the larger model is measurably
  better at it (docs/results.md, single-line EM 0.660 against nanocomplete-0.5b's 0.565).
- `LatencyModel`: what the quality tier measurably costs on this machine, so that `auto` sends it only
  the requests it can answer within `quality_max_latency_ms` (a new file, whose prompt the quality model
  has not evaluated, goes to fast while the quality tier warms it).
- `TieredService`: the service the server calls, over one `CompletionService` per tier. The tiers share
  the CPU (one llama.cpp job at a time; a warmup yields to any tier's completion), the workspace indexes,
  the metrics and the KV snapshot budgets (split in proportion to each model's KV bytes per token, so that
  both hold as many tokens). A newer request for a document cancels the older one on either tier.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from nanocomplete import api
from nanocomplete.completion import Settings
from nanocomplete.config import ContextConfig, GenerationConfig, IndexConfig, ServerConfig, TierConfig
from nanocomplete.engine import Engine
from nanocomplete.errors import ModelError
from nanocomplete.index import Workspaces
from nanocomplete.scheduler import Compute, WarmResult
from nanocomplete.service import CompletionService, Pending, Shared, document_text
from nanocomplete.telemetry import EventStore, Metrics

FAST, QUALITY = "fast", "quality"
BLOCK_START = re.compile(r"(?:\{|=>)\s*$")  # and a `:` that ends a line whose brackets are closed
COMMENT_LINE = re.compile(r"^\s*(?:#|//|/\*|\*|--|\"\"\"|''')")
CALIBRATION_TEXT = (
    "def total_cents(items):\n    return sum(item.price_cents * item.quantity for item in items)\n"
)
CALIBRATION_PROMPT_TOKENS = 64
EWMA_WEIGHT = 0.3  # the weight of the newest measurement in the latency model's moving averages
# tokens a completion stopped by max_generation_ms generates beyond what fits the limit, finishing its line
# (replay v27: a median of 8-9 where 500 ms fits ~7.5 at ~67 ms a token)
TOKENS_AFTER_LIMIT = 2
MIN_MEASURED_PROMPT_TOKENS = 32  # shorter evaluations are mostly a decode's fixed cost, not per-token


def _tier_settings(settings: Settings, tier: str) -> Settings:
    """A tier's settings: the fast tier does not draft with a model (it would draft for itself)."""
    if tier == QUALITY or settings.generation.draft != "model":
        return settings
    return dataclasses.replace(settings, generation=dataclasses.replace(settings.generation, draft="none"))


def route(prefix: str) -> tuple[str, str]:
    """The tier the trigger context asks for, and why: ("quality", "new_line" | "block_start" |
    "after_comment") or ("fast", "mid_line"). `prefix`: the document's text before the cursor."""
    before, _, line = prefix.rpartition("\n")
    if not line.strip():
        return QUALITY, "new_line"
    if BLOCK_START.search(line) or (line.rstrip().endswith(":") and _brackets_closed(line)):
        return QUALITY, "block_start"
    previous = before.rpartition("\n")[2]
    if COMMENT_LINE.match(previous):
        return QUALITY, "after_comment"
    return FAST, "mid_line"


def _brackets_closed(line: str) -> bool:
    """Whether every bracket opened on the line is closed (`if x:` yes, `def f(x:` no)."""
    depth = 0
    for char in line:
        depth += char in "([{"
        depth -= char in ")]}"
    return depth <= 0


def _average(old: float | None, new: float) -> float:
    return new if old is None else (1 - EWMA_WEIGHT) * old + EWMA_WEIGHT * new


@dataclass
class LatencyModel:
    """One tier's measured costs, as moving averages: ms per prompt token evaluated (from evaluations of
    at least MIN_MEASURED_PROMPT_TOKENS, warmups included), ms per generated token, tokens generated per
    completion. Thread-safe enough: each field is replaced whole."""

    prompt_ms_per_token: float | None = None
    generation_ms_per_token: float | None = None
    generated_tokens: float | None = None

    def observe_prompt(self, tokens: int, ms: float) -> None:
        if tokens >= MIN_MEASURED_PROMPT_TOKENS:
            self.prompt_ms_per_token = _average(self.prompt_ms_per_token, ms / tokens)

    def observe_completion(self, timings) -> None:
        """From a completion's timings (api.Timings or engine.Timings: the same field names)."""
        self.observe_prompt(timings.prompt_tokens_evaluated, timings.prompt_ms)
        if timings.tokens_generated > 0:
            per_token = timings.generation_ms / timings.tokens_generated
            self.generation_ms_per_token = _average(self.generation_ms_per_token, per_token)
        self.generated_tokens = _average(self.generated_tokens, timings.tokens_generated)

    def estimate_ms(self, uncached_tokens: int, generation: GenerationConfig | None = None) -> float | None:
        """A completion's latency when `uncached_tokens` of its prompt must be evaluated: those tokens,
        one decode for the prompt's last batch and the usual generation, at most what `generation` (a
        request's max_tokens and max_generation_ms) lets it generate. None until measured (a warmup of a
        file measures the prompt rate, the first completion the rest). A request that allows more than the
        measured completions generated is estimated at what they generated."""
        if self.generation_ms_per_token is None:
            return None
        prompt_ms = (self.prompt_ms_per_token or self.generation_ms_per_token) * uncached_tokens
        tokens = self.generated_tokens or 0
        if generation is not None:
            tokens = min(tokens, _most_generated_tokens(generation, self.generation_ms_per_token))
        return prompt_ms + self.generation_ms_per_token * (1 + tokens)


def _most_generated_tokens(generation: GenerationConfig, ms_per_token: float | None) -> float:
    """Tokens a completion can generate under `generation`'s limits: `max_tokens`, or where
    `max_generation_ms` binds at `ms_per_token`, the tokens that fit it and TOKENS_AFTER_LIMIT more."""
    if not generation.max_generation_ms or not ms_per_token:
        return generation.max_tokens
    return min(generation.max_tokens, generation.max_generation_ms / ms_per_token + TOKENS_AFTER_LIMIT)


def _usual_generated_tokens(generation: GenerationConfig, latency: LatencyModel) -> float:
    """Tokens a completion is taken to generate before any is measured: half of `max_tokens`, at most
    what the limits let it generate (`_most_generated_tokens`)."""
    return min(generation.max_tokens / 2, _most_generated_tokens(generation, latency.generation_ms_per_token))


class TieredService:
    """The completion service of two tiers (the interface `server.create_app` uses)."""

    def __init__(
        self,
        engines: dict[str, tuple[Engine, str]],
        settings: Settings,
        config: TierConfig,
        context_config: ContextConfig = ContextConfig(),
        server: ServerConfig = ServerConfig(),
        events: EventStore | None = None,
        index: IndexConfig = IndexConfig(),
        reuse_kv: bool = True,
    ):
        """One `CompletionService` per tier over `engines` ({"fast": (engine, model name), "quality":
        ...}), sharing the CPU, the workspace indexes, the metrics and the KV snapshot budgets."""
        self.tiers: dict[str, CompletionService] = {}
        compute, metrics, workspaces = Compute(), Metrics(), Workspaces(index, busy=self.busy)
        total = sum(engine.kv_bytes_per_token for engine, _ in engines.values())
        for tier, (engine, name) in engines.items():
            shared = Shared(compute, workspaces, metrics, engine.kv_bytes_per_token / total)
            self.tiers[tier] = CompletionService(
                engine, name, _tier_settings(settings, tier), context_config, server, reuse_kv=reuse_kv,
                index=index, tier=tier, shared=shared,
            )  # fmt: skip
        self.config = config
        self.events = events
        self.latency = {name: LatencyModel() for name in self.tiers}
        self._last_tier: dict[str, str] = {}  # the tier that answered each document last

    @property
    def fast(self) -> CompletionService:
        return self.tiers[FAST]

    @property
    def model_name(self) -> str:
        return self.fast.model_name

    @property
    def model_names(self) -> dict[str, str]:
        return {name: service.model_name for name, service in self.tiers.items()}

    @property
    def metrics(self) -> Metrics:
        return self.fast.metrics

    @property
    def workspaces(self) -> Workspaces:
        return self.fast.workspaces

    def busy(self) -> bool:
        """Whether a completion is being prepared, queued or run on any tier (indexing waits meanwhile)."""
        return any(service.busy() for service in self.tiers.values())

    # --- completions ---

    def submit(self, request: api.CompleteRequest) -> Pending:
        """Route the request to a tier and start it there; the other tier's completions of the document
        are cancelled (this one supersedes them)."""
        with self.fast.preparing():
            tier, reason, pending = self._plan(request)
            pending.tier_reason = reason
            for name, service in self.tiers.items():
                if name != tier:
                    service.scheduler.cancel_document(request.uri)
            self._last_tier[request.uri] = tier
            return self.tiers[tier].start(pending)

    def _plan(self, request: api.CompleteRequest) -> tuple[str, str, Pending]:
        """The tier, the reason (api.CompleteResponse.tier_reason) and the planned completion."""
        asked = request.tier or self.config.tier
        if asked != "auto":
            if asked not in self.tiers:
                raise ModelError(f"this server has no {asked} tier (`serve --quality-model NAME` adds one)")
            return asked, "asked", self.tiers[asked].plan(request)
        last = self._last_tier.get(request.uri)
        if last is not None and self.tiers[last].types_through(request):  # answered without a model
            return last, "typed_through", self.tiers[last].plan(request)
        tier, reason = route(document_text(request)[0])
        if tier == QUALITY:
            pending = self.tiers[QUALITY].plan(request)
            generation = self.tiers[QUALITY].settings_for(request).generation  # the request's limits
            if pending.answer is not None or self._affordable(pending.uncached_tokens, generation):
                return QUALITY, reason, pending
            if self._affordable(0, generation):  # its prompt costs too much: warm it for the next request
                self.tiers[QUALITY].warm_planned(pending)
            reason = "over_latency"
        return FAST, reason, self.fast.plan(request)

    def _affordable(self, uncached_tokens: int, generation: GenerationConfig | None = None) -> bool:
        """Whether the quality tier's estimated latency, with `uncached_tokens` to evaluate and a request's
        limits on generating (`generation`; None: the server's), is within quality_max_latency_ms
        (unmeasured: yes)."""
        budget = self.config.quality_max_latency_ms
        estimate = self.latency[QUALITY].estimate_ms(uncached_tokens, generation)
        return budget <= 0 or estimate is None or estimate <= budget

    def finish(self, pending: Pending) -> api.CompleteResponse:
        """The response of a finished job (see `CompletionService.finish`); its timings feed the tier's
        latency model."""
        response = self.tiers[pending.tier].finish(pending)
        response.tier_reason = pending.tier_reason  # counted by the tier's service
        if response.timings is not None:
            self.latency[pending.tier].observe_completion(response.timings)
            self._export(pending.tier)
        return response

    def _export(self, tier: str) -> None:
        """The tier's measured costs as Prometheus gauges."""
        latency = self.latency[tier]
        for phase, value in (
            ("prompt", latency.prompt_ms_per_token),
            ("generation", latency.generation_ms_per_token),
        ):
            if value is not None:
                self.metrics.tier_ms_per_token.labels(tier, phase).set(value)

    def calibrate(self) -> None:
        """Measure each tier's costs once, before serving (auto's first routing decisions then use them):
        CALIBRATION_PROMPT_TOKENS prompt tokens and a few generated tokens on each engine; until
        completions are measured, a completion is taken to generate half of max_tokens, or fewer where
        max_generation_ms binds (`_usual_generated_tokens`). Leaves the engines' KV caches empty."""
        for tier, service in self.tiers.items():
            engine = service.engine
            prompt = (engine.tokenize(CALIBRATION_TEXT) * 8)[:CALIBRATION_PROMPT_TOKENS]
            generation = dataclasses.replace(service.settings.generation, max_tokens=4, draft="none")
            timings = engine.generate(prompt, generation).timings
            engine.reset()
            latency = self.latency[tier]
            latency.observe_completion(timings)  # the first measurement: the averages start from it
            latency.generated_tokens = _usual_generated_tokens(service.settings.generation, latency)
            self._export(tier)

    # --- warmups, health ---

    def warm(self, request: api.WarmRequest) -> api.WarmResponse:
        """Warm the tier the document's next request will most likely use: the request's tier or the tier
        setting, or under auto the tier its cursor's trigger context routes to, unless that is quality and
        quality's generation alone is over quality_max_latency_ms (then fast answers, as `_plan` decides)."""
        tier = request.tier or self.config.tier
        if tier == "auto":
            tier, _ = route(document_text(request)[0])
            if tier == QUALITY and not self._affordable(0):
                tier = FAST
        jobs = self.tiers[tier].warm_jobs(request)
        for job in jobs:
            job.future.add_done_callback(self._measure_warmup(tier))
        return api.WarmResponse(queued=bool(jobs))

    def _measure_warmup(self, tier: str):
        def measure(future) -> None:
            if not future.cancelled() and future.exception() is None:
                result: WarmResult = future.result()
                self.latency[tier].observe_prompt(result.prompt_tokens_evaluated, result.prompt_ms)

        return measure

    def index_health(self) -> api.IndexHealth:
        return self.fast.index_health()

    def close(self) -> None:
        for service in self.tiers.values():
            service.close()
        if self.events is not None:
            self.events.close()
