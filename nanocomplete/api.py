"""The HTTP API's request and response schemas (version 1), validated by pydantic; FastAPI publishes them
as OpenAPI at /openapi.json. Positions are 0-based; `character` counts UTF-16 code units, as in LSP and
VS Code.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nanocomplete.config import MAX_GENERATION_MS, disabled_files_matcher

MAX_TEXT_CHARS = 2_000_000
MAX_SNIPPETS = 32
MAX_DISABLED_FILES = 64  # globs a request may add (Dash's default list has 12)
MAX_TOKENS = 256
# a request's disabled_files globs, all together: RE2 compiles them as one set, which 64 globs of 300
# characters' wildcards overflow (a 503 before; Dash's defaults are ~200 characters)
MAX_DISABLED_FILES_CHARS = 4_000

Strict = ConfigDict(extra="forbid", strict=True)  # unknown fields and "5" for 5 are 422s


class Position(BaseModel):
    model_config = Strict
    line: int = Field(ge=0, description="0-based line")
    character: int = Field(ge=0, description="0-based column in UTF-16 code units")


class Range(BaseModel):
    start: Position
    end: Position


class Snippet(BaseModel):
    model_config = Strict
    path: str = Field(max_length=1000, description="path relative to the workspace root (or a file name)")
    text: str = Field(max_length=100_000)


class Document(BaseModel):
    """The document and cursor: either the full `text` with a `cursor`, or `prefix` and `suffix`."""

    model_config = Strict
    uri: str = Field(min_length=1, max_length=2000, description="identifies the document (and its KV cache)")
    language: str | None = Field(default=None, max_length=50)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    cursor: Position | None = None
    prefix: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    suffix: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    workspace_root: str | None = Field(
        default=None, max_length=4000, description="absolute path of the project"
    )
    recent: list[Snippet] = Field(default_factory=list, max_length=MAX_SNIPPETS, description="open / edited")
    disabled_files: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list,
        max_length=MAX_DISABLED_FILES,
        description="globs of files never used as context nor completed (secrets; .gitignore syntax, on "
        "the path from the workspace root), added to the server's `disabled_files`; Dash sends its "
        "`disabledFiles`",
    )

    @field_validator("disabled_files")
    @classmethod
    def _readable_globs(cls, globs: list[str]) -> list[str]:
        if sum(map(len, globs)) > MAX_DISABLED_FILES_CHARS:
            raise ValueError(f"more than {MAX_DISABLED_FILES_CHARS} characters of globs in all")
        disabled_files_matcher(tuple(globs))  # ValueError (a 422) for globs it cannot read together; cached
        return globs

    @model_validator(mode="after")
    def _text_or_prefix(self) -> Document:
        full = (self.text, self.cursor)
        split = (self.prefix, self.suffix)
        whole = all(v is not None for v in full) and all(v is None for v in split)
        parts = all(v is not None for v in split) and all(v is None for v in full)
        if not (whole or parts):
            fields = ("text", "cursor", "prefix", "suffix")
            sent = [name for name in fields if getattr(self, name) is not None]
            raise ValueError(
                "send either `text` with `cursor`, or `prefix` with `suffix`, and nothing of the other pair; "
                f"this request has {', '.join(f'`{name}`' for name in sent) or 'none of them'}"
            )
        return self


TIER_DESCRIPTION = (
    "which model answers: fast, quality (the server's quality_model) or auto (by trigger context and "
    "measured latency); unset: the server's tier setting"
)


MAX_GENERATION_MS_DESCRIPTION = (
    "after this long generating, in ms, the next token ends the completion once it has a whole line (the "
    "unfinished line after it is dropped); 0: no limit but max_tokens; unset: the server's max_generation_ms"
)
T_MAX_PREDICT_MS_DESCRIPTION = (
    "llama-server's limit on generating, in ms, read as our max_generation_ms (≤ 0: none; capped at "
    f"{MAX_GENERATION_MS:,}); unset: the server's max_generation_ms"
)


class CompleteRequest(Document):
    request_id: str | None = Field(default=None, max_length=200)
    trigger_kind: Literal["automatic", "invoked"] = "automatic"
    model: str | None = Field(default=None, max_length=200, description="must name the loaded model if set")
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    max_generation_ms: int | None = Field(
        default=None, ge=0, le=MAX_GENERATION_MS, description=MAX_GENERATION_MS_DESCRIPTION
    )
    tier: Literal["fast", "quality", "auto"] | None = Field(default=None, description=TIER_DESCRIPTION)


class Timings(BaseModel):
    prompt_tokens: int
    prompt_tokens_evaluated: int = Field(
        description="prompt tokens this request evaluated, its share of the full prompt included"
    )
    prompt_tokens_reused: int
    prompt_ms: float
    generation_ms: float
    tokens_generated: int
    queue_ms: float
    total_ms: float
    warm_share_tokens: int = Field(
        0,
        description="of prompt_tokens_evaluated, those of the full prompt, evaluated before an answer "
        "from the bounded one (cold_prompt_tokens is the budget of both)",
    )


class Confidence(BaseModel):
    mean_logprob: float | None
    min_logprob: float | None


class CompleteResponse(BaseModel):
    request_id: str | None
    completion: str = Field(description='the text to insert at the cursor; "" when nothing is worth showing')
    replace_range: Range
    confidence: Confidence
    hidden_by_confidence: bool
    cancelled: bool
    cache: Literal["hit", "snapshot", "miss", "result_cache", "none"]
    cold_prompt: bool = Field(
        default=False,
        description="answered from a prompt bounded to cold_prompt_tokens while the full prompt warms",
    )
    disabled_file: bool = Field(
        default=False,
        description="the document's path matches disabled_files (the server's or the request's): nothing of "
        "it was evaluated or kept, and the completion is empty",
    )
    prefix_window_moved: bool = Field(
        default=False,
        description="the prefix window's start moved since the document's last request (it starts on a "
        "multiple of prefix_anchor_lines lines), so the prompt after it was evaluated again",
    )
    timings: Timings | None
    stop_reason: Literal["stop_token", "max_tokens", "max_generation_ms", "should_stop"] | None = Field(
        default=None,
        description="why generating ended: the model's end-of-text or FIM stop token, max_tokens, "
        "max_generation_ms (its next token after a whole line; the unfinished line is dropped), or "
        "should_stop (a rule of the post-processing: the block or the first line ended); null where the "
        "model did not answer (result_cache, a disabled file, a cancelled request)",
    )
    model: str
    tier: Literal["fast", "quality"] = Field(default="fast", description="the tier that answered")
    tier_reason: Literal[
        "asked", "typed_through", "mid_line", "new_line", "block_start", "after_comment", "over_latency"
    ] = Field(
        default="asked",
        description="why that tier: asked (the request's tier or model, or the server's fixed tier); under "
        "auto the trigger context (mid_line goes to fast; new_line, block_start, after_comment to quality), "
        "over_latency (quality's estimated latency was over quality_max_latency_ms) or typed_through (the "
        "rest of that tier's last suggestion)",
    )


class WarmRequest(Document):
    tier: Literal["fast", "quality", "auto"] | None = Field(
        default=None,
        description=TIER_DESCRIPTION + "; the tier whose KV cache is warmed (under auto: the one the "
        "cursor's trigger context routes to), as the document's completions will ask",
    )


class WarmResponse(BaseModel):
    queued: bool = Field(description="whether warm-ups were queued (none for a disabled file)")


class Event(BaseModel):
    model_config = Strict
    request_id: str | None = Field(default=None, max_length=200)
    kind: Literal["shown", "accepted", "partially_accepted", "rejected", "retained"]
    language: str | None = Field(default=None, max_length=50)
    shown_chars: int | None = Field(default=None, ge=0, le=MAX_TEXT_CHARS)
    accepted_chars: int | None = Field(default=None, ge=0, le=MAX_TEXT_CHARS)
    retained_chars: int | None = Field(
        default=None, ge=0, le=MAX_TEXT_CHARS, description="accepted characters still present"
    )
    after_s: float | None = Field(
        default=None, ge=0, le=1e9, allow_inf_nan=False, description="for retained: seconds after acceptance"
    )
    latency_ms: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    text: str | None = Field(
        default=None, max_length=10_000, description="kept only with store_code_in_telemetry"
    )


class EventsRequest(BaseModel):
    model_config = Strict
    events: list[Event] = Field(max_length=1000)


class EventsResponse(BaseModel):
    stored: int


class WorkspaceIndexHealth(BaseModel):
    """One indexed workspace (named by its folder's name only: /health needs no token)."""

    name: str
    state: Literal["indexing", "ready"]
    files: int
    bytes: int = Field(description="source text indexed")
    memory_mb: float = Field(description="estimated memory of the index")
    passes: int = Field(description="indexing passes finished")
    last_pass_s: float | None = None
    capped_by: Literal["files", "bytes", "memory", "time"] | None = Field(
        default=None, description="the bound the last pass stopped at; None: it indexed everything"
    )


class IndexHealth(BaseModel):
    limits: dict[str, int | float] = Field(description="the index_max_* settings")
    workspaces: list[WorkspaceIndexHealth]


class Health(BaseModel):
    status: Literal["ok"]
    name: Literal["nanocomplete"] = Field(
        default="nanocomplete", description="what answers: editors check it before trusting the server"
    )
    model: str
    version: str
    tiers: dict[str, str] = Field(default_factory=dict, description="the model of each tier served")
    index: IndexHealth | None = None


class ErrorBody(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


# --- compatibility: llama.cpp's /infill and OpenAI's /v1/completions --------------------------------------


class InfillExtra(BaseModel):
    filename: str = Field(default="", max_length=1000)
    text: str = Field(default="", max_length=100_000)


class InfillRequest(BaseModel):
    """What llama.vscode and llama.vim send; fields we do not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    input_prefix: str = Field(default="", max_length=MAX_TEXT_CHARS)
    input_suffix: str = Field(default="", max_length=MAX_TEXT_CHARS)
    input_extra: list[InfillExtra] = Field(default_factory=list, max_length=MAX_SNIPPETS)
    prompt: str = Field(default="", max_length=100_000, description="the typed part of the current line")
    n_predict: int | None = Field(default=None, ge=-1, le=1024)
    t_max_predict_ms: int | None = Field(default=None, description=T_MAX_PREDICT_MS_DESCRIPTION)
    id_slot: int | None = None


class LlamaCompletionRequest(BaseModel):
    """llama.cpp's `POST /completion`, as Continue's llama.cpp provider and Tabby's llama.cpp backend send
    it: a `prompt` the client filled with the model's FIM template (or plain text to continue)."""

    model_config = ConfigDict(extra="allow")
    prompt: str | list[str] = Field(max_length=MAX_TEXT_CHARS)
    n_predict: int | None = Field(default=None, ge=-1, le=1024)
    t_max_predict_ms: int | None = Field(default=None, description=T_MAX_PREDICT_MS_DESCRIPTION)
    stream: bool = False


class OpenAICompletionRequest(BaseModel):
    """OpenAI-style FIM: `prompt` before the cursor, `suffix` after it (what Continue sends)."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(default=None, max_length=200)
    prompt: str | list[str] = Field(max_length=MAX_TEXT_CHARS)
    suffix: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    max_tokens: int | None = Field(default=None, ge=1, le=1024)
    max_generation_ms: int | None = Field(
        default=None, ge=0, le=MAX_GENERATION_MS, description="as in /v1/complete"
    )
    tier: Literal["fast", "quality", "auto"] | None = Field(default=None, description="as in /v1/complete")
    temperature: float | None = Field(default=None, ge=0, le=2)
    stop: str | list[str] | None = None
    stream: bool = False
