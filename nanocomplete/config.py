"""Settings, as frozen dataclasses. Every field has one name everywhere: `max_tokens` here is
`--max-tokens` on the CLI and `max_tokens` in the API. Units are in the names; each field's help (with its
cost) is in its metadata, and `nanocomplete settings` prints them all as one table (docs/settings.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import re
from dataclasses import dataclass, field

import pathspec

from nanocomplete.errors import NanocompleteError


def setting(default, help: str):
    return field(default=default, metadata={"help": help})


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class EngineConfig:
    context_window_tokens: int = setting(4096, "KV cache size; 12 KiB per token for the 0.5B")
    batch_tokens: int = setting(
        128, "prompt tokens per llama.cpp decode; cancellation is checked between batches"
    )
    threads: int = setting(0, "CPU threads for llama.cpp; 0 means all cores, at most 8")
    gpu_layers: int = setting(
        -1, "layers offloaded to the GPU (Metal on macOS); -1 all; CPU builds ignore it"
    )
    kv_shift_min_tokens: int = setting(
        32,
        "reuse cached runs of at least this many tokens that the prompt still has after text it lost (the "
        "prefix window's start moved), shifted into place instead of evaluated again; 0: only the cached "
        "prefix is reused (docs/performance.md: a window move 866-1,181 -> 1-5 tokens)",
    )
    kv_shift_after_insertions: bool = setting(
        True,
        "with kv_shift_min_tokens, also reuse the cached runs that follow text the prompt gained among the "
        "other files (the context engine chose another snippet): the new text is evaluated in a second "
        "sequence and the runs shifted right into place; text gained in the file itself ends reuse there "
        "(docs/performance.md, replay v13)",
    )
    draft_model: str = setting(
        "",
        "registered model or .gguf that drafts when draft=model, loaded beside the model with its own KV "
        "cache (it must share the model's vocabulary); empty: none",
    )

    def resolved_threads(self) -> int:
        return self.threads or default_threads()


@dataclass(frozen=True)
class PromptConfig:
    max_prefix_tokens: int = setting(
        1024, "text before the cursor; each token costs ~4-9 ms to evaluate on a 2-core CPU when not cached"
    )
    max_suffix_tokens: int = setting(256, "text after the cursor")
    max_context_tokens: int = setting(1024, "other files, in the repo-level format; 0 disables them")
    prefix_anchor_lines: int = setting(
        16, "the prefix starts on a multiple of this many lines, so it does not slide while typing"
    )
    current_line_after_middle: bool = setting(
        False, "put the typed part of the current line after <|fim_middle|> (keeps the cache warm)"
    )
    heal_trailing_whitespace: bool = setting(
        False,
        "leave spaces before the cursor out of the prompt; the model writes them, its first tokens held to "
        "agree with them (token healing: no double space, no statement ended after `return `)",
    )
    heal_last_token: bool = setting(
        False,
        "leave the typed line's last token out of the prompt (`.` in `json.`, `(` in `print(`, a word half "
        "typed); the model writes it again, its first tokens held to agree with it (token healing: the "
        "tokenizer joins `.dumps` into one token, so a prompt that ends on `.` is a split the model never "
        "saw, and it answers ` dumps`)",
    )
    cold_prompt_tokens: int = setting(
        0,
        "the most prompt tokens a request evaluates: when the full prompt would need more (a new file, a "
        "jump, a new context), a prompt bounded to this answers, the full prompt's next tokens filling the "
        "rest of the budget first (the remainder warms in the background); 0: no bound. An evaluation "
        "with it answers every example from the bounded prompt",
    )
    cold_context_tokens: int = setting(
        0,
        "of cold_prompt_tokens, the most tokens of other files a bounded prompt evaluates (the first of the "
        "full prompt's, taken from the prefix's share, at most half of it) while the KV cache holds none of "
        "them (docs/performance.md: 128 and 172 lost EM against 0 in both languages); a bounded prompt shows "
        "no other files in less than 64 tokens of room, so a value under 64 shows none",
    )
    max_prompt_tokens: int = setting(
        0,
        "the most tokens of the whole prompt: other files get what the file's own text (max_prefix_tokens, "
        "max_suffix_tokens) leaves of it, up to max_context_tokens; 0: no bound. A bounded prompt "
        "(cold_prompt_tokens) sets it to its budget, so a small file's bounded prompt shows other files",
    )
    max_middle_tokens: int = setting(
        0,
        "with current_line_after_middle: lines typed since the middle's last start stay after <|fim_middle|> "
        "up to this many tokens, a new line then evaluates only them, not the suffix; 0: the current line",
    )
    suffix_skips_auto_closed: bool = setting(
        False,
        "when code is typed left of the cursor and the rest of its line is only what editors auto-close "
        "(`)`, `]`, `}`, `>`, quotes; spaces after them), leave that rest out of the suffix, so typing a "
        "bracket or its closer does not evaluate the whole suffix again; a completion that types them "
        "again covers them. Also the lines of closing brackets right below a cursor with nothing right of "
        "it (where Enter between brackets puts them), so a new block does not evaluate the suffix again",
    )


# header: the document's own imports when the prefix window cuts them; import: definitions of imported
# names; recent: snippets the editor sends; similar: code like the lines before the cursor (context.py)
CONTEXT_SOURCES = ("header", "import", "recent", "similar")


@dataclass(frozen=True)
class ContextConfig:
    context_sources: str = setting(
        ",".join(CONTEXT_SOURCES), f"context sources, comma-separated: {', '.join(CONTEXT_SOURCES)}"
    )
    near_cursor_lines: int = setting(30, "lines before the cursor whose imported names bring definitions")

    def __post_init__(self):
        unknown = [s for s in self.sources if s not in CONTEXT_SOURCES]
        if unknown:
            raise ValueError(f"unknown context source {unknown[0]!r}; known: {', '.join(CONTEXT_SOURCES)}")

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.context_sources.split(",") if s.strip())


# Files that commonly hold secrets: Dash's `nanocomplete.disabledFiles` (editors/vscode/src/enablement.ts)
DISABLED_FILES = (
    "**/.env", "**/.env.*", "**/*.env", "**/*.pem", "**/*.key", "**/id_rsa*", "**/id_ed25519*", "**/.npmrc",
    "**/.pypirc", "**/.netrc", "**/*credentials*", "**/*secret*",
)  # fmt: skip


MAX_GLOB_EXPANSIONS = 64  # alternatives one glob's `{a,b}` groups may expand to
# characters of all globs once expanded (the default list: 119): 13 globs of 300 characters that each expand
# 64-fold took ~2 s to compile on the event loop and ~9 MB per distinct set (a hostile client's audit)
MAX_EXPANDED_GLOB_CHARS = 8_000
# RE2 (google-re2) matches in time linear in the path whatever the glob; Python's `re`, pathspec's fallback,
# backtracks: `*a*a*a*a*a*a*a*ab` against a 60-character name held the server (and the GIL) for 29 s.
GLOB_BACKEND = "re2"


class DisabledFiles:
    """Globs of files never read as context (`disabled_files`, Dash's `nanocomplete.disabledFiles`), read
    as .gitignore lines after VS Code's `{a,b}` alternatives are expanded, matched without regard to case
    (`**/*secret*` matches `a/ClientSecret.py`; a folder it matches, `secrets/`, with everything in it).
    Raises ValueError for a glob it cannot read, one of more than MAX_GLOB_EXPANSIONS alternatives, or globs
    of more than MAX_EXPANDED_GLOB_CHARS characters once expanded."""

    def __init__(self, globs: tuple[str, ...]) -> None:
        lines = [line for glob in globs if glob.strip() for line in _alternatives(glob.strip().lower())]
        if sum(map(len, lines)) > MAX_EXPANDED_GLOB_CHARS:
            raise ValueError(f"the globs expand to more than {MAX_EXPANDED_GLOB_CHARS} characters in all")
        try:
            self._spec = pathspec.GitIgnoreSpec.from_lines(lines, backend=GLOB_BACKEND)
        except Exception as error:  # pathspec's own errors and re's
            raise ValueError(f"a glob .gitignore syntax cannot read ({error})") from None

    def matches(self, path: str) -> bool:
        return self._spec.match_file(path.lower())


@functools.lru_cache(maxsize=64)
def disabled_files_matcher(globs: tuple[str, ...]) -> DisabledFiles:
    return DisabledFiles(globs)


def _alternatives(glob: str) -> list[str]:
    """`**/*.{pem,key}` → `**/*.pem`, `**/*.key` (innermost groups first)."""
    found, pending = [], [glob]
    while pending:
        current = pending.pop()
        group = re.search(r"\{([^{}]*)\}", current)
        if group is None:
            found.append(current)
        else:
            head, tail = current[: group.start()], current[group.end() :]
            pending.extend(head + alternative + tail for alternative in group.group(1).split(","))
        if len(found) + len(pending) > MAX_GLOB_EXPANSIONS:
            raise ValueError(f"{glob!r} expands to more than {MAX_GLOB_EXPANSIONS} globs")
    return found


@dataclass(frozen=True)
class IndexConfig:
    """Bounds on workspace indexing (the files cross-file context is chosen from). A pass that reaches one
    stops there, keeps what it indexed, and says which in /health."""

    index_max_files: int = setting(20_000, "source files indexed per workspace")
    index_max_bytes: int = setting(16_000_000, "source text indexed per workspace, in bytes")
    index_max_file_bytes: int = setting(200_000, "larger source files are skipped (generated or data)")
    index_max_memory_mb: int = setting(
        256, "index memory across all workspaces (estimated, ~13 bytes per byte of source; docs/index.md)"
    )
    index_max_seconds: float = setting(
        60.0, "one indexing pass; the next waits at least 10x as long as the last took"
    )
    index_max_workspaces: int = setting(4, "workspaces indexed at once; the least recently used is dropped")
    disabled_files: str = setting(
        ",".join(DISABLED_FILES),
        "globs of files never indexed, used as another file's context or completed (secrets), "
        "comma-separated, "
        "matched on the path from the workspace root as .gitignore lines are, in any case, `{a,b}` expanded "
        "(a matching folder: all of it); "
        "the same defaults as Dash's `nanocomplete.disabledFiles`, whose globs requests add",
    )

    def __post_init__(self):
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, str) and value <= 0:
                raise ValueError(f"{item.name} must be positive, got {getattr(self, item.name)}")
        disabled_files_matcher(self.disabled_globs)  # ValueError for one it cannot read

    @property
    def disabled_globs(self) -> tuple[str, ...]:
        """`disabled_files` split at the commas outside `{a,b}` groups."""
        return tuple(re.split(r",(?![^{}]*\})", self.disabled_files))


# speculative decoding's drafters (draft.py, engine.py): none; prompt lookup (n-grams of the prompt and
# output); the draft_model decoding greedily
DRAFTS = ("none", "lookup", "model")


# the most max_generation_ms a setting or a request may ask for (ms); max_tokens bounds generation anyway
MAX_GENERATION_MS = 60_000


@dataclass(frozen=True)
class GenerationConfig:
    max_tokens: int = setting(32, "new tokens per completion; each costs ~50 ms on a 2-core CPU")
    temperature: float = setting(0.0, "sampling temperature; 0 is greedy")
    seed: int = setting(0, "sampling seed when temperature > 0")
    draft: str = setting(
        "none",
        "speculative decoding (greedy only, the same tokens): none, lookup (n-grams of the prompt) or model "
        "(draft_model); the model verifies each draft in one batch",
    )
    draft_max_tokens: int = setting(4, "tokens per draft; the verify batch is one more")
    max_generation_ms: int = setting(
        0,
        "after this long generating, the next token ends a completion once it has a whole line, and the "
        "unfinished line after it is dropped (the first line always completes; llama-server's "
        "t_max_predict_ms); with max_tokens 32 it binds only where decoding is slow; 0: no limit; at most "
        f"{MAX_GENERATION_MS:,}. A "
        "request's own (max_generation_ms; t_max_predict_ms on /infill, which llama.vscode sends) takes "
        "its place",
    )

    def __post_init__(self):
        if self.draft not in DRAFTS:
            raise ValueError(f"unknown draft {self.draft!r}; known: {', '.join(DRAFTS)}")
        if self.draft_max_tokens < 1:
            raise ValueError(f"draft_max_tokens must be at least 1, got {self.draft_max_tokens}")
        if not 0 <= self.max_generation_ms <= MAX_GENERATION_MS:
            raise ValueError(
                f"max_generation_ms must be 0 to {MAX_GENERATION_MS:,}, got {self.max_generation_ms}"
            )


# the tiers (tiers.py): fast is the model, quality the quality_model; auto routes each request by its trigger
# context and the quality tier's measured latency
TIERS = ("fast", "quality", "auto")


@dataclass(frozen=True)
class TierConfig:
    tier: str = setting(
        "fast",
        "which model answers: fast (the model), quality (quality_model) or auto (a new line, a block start "
        "or the line after a comment goes to quality when its estimated latency fits "
        "quality_max_latency_ms; typing mid-line goes to fast)",
    )
    quality_model: str = setting(
        "",
        "registered model or .gguf of the quality tier, loaded beside the model with its own KV cache and "
        "a share of the KV snapshot budgets in proportion to its bytes per token; empty: none",
    )
    quality_max_latency_ms: float = setting(
        800.0,
        "auto sends a request to quality only when its estimate (prompt tokens not cached x measured ms "
        "per token + measured generation time) is within this; 0: trigger context alone decides",
    )

    def __post_init__(self):
        if self.tier not in TIERS:
            raise ValueError(f"unknown tier {self.tier!r}; known: {', '.join(TIERS)}")
        if self.tier != "fast" and not self.quality_model:
            raise ValueError(
                f"tier {self.tier} needs quality_model (--quality-model NAME: the quality tier's model)"
            )
        if self.quality_max_latency_ms < 0:
            raise ValueError(f"quality_max_latency_ms must be 0 or more, got {self.quality_max_latency_ms}")


@dataclass(frozen=True)
class PostprocessConfig:
    max_lines: int = setting(6, "lines in a multi-line completion (only at the end of a line)")
    min_chars: int = setting(2, "completions with fewer non-blank characters are dropped")
    stop_at_blank_line: bool = setting(True, "a multi-line completion ends at a blank line after code")
    min_token_logprob: float = setting(
        -8.0, "a completion is cut before its first token less likely than this"
    )
    min_mean_logprob: float = setting(-99.0, "completions whose mean token log-prob is lower are not shown")


@dataclass(frozen=True)
class ServerConfig:
    host: str = setting("127.0.0.1", "address to listen on; anything but loopback should set api_token")
    port: int = setting(8012, "TCP port")
    api_token: str = setting("", "if set, requests must send `Authorization: Bearer <token>`")
    max_request_bytes: int = setting(4_000_000, "larger request bodies are refused with 413")
    kv_snapshot_budget_mb: int = setting(256, "memory for per-file KV snapshots (~12 KiB per token, 0.5B)")
    kv_snapshot_disk_mb: int = setting(
        1024, "disk for per-file KV snapshots, so a restarted server answers known files warm; 0: none"
    )
    kv_snapshot_dir: str = setting("", "where KV snapshots are kept on disk; empty: the cache folder's kv/")
    store_code_in_telemetry: bool = setting(False, "keep completion text in the local telemetry database")
    log_prompts: bool = setting(
        False, "log each completion's prompt, context pieces, cache outcome and timings (the log holds code)"
    )
    allowed_hosts: str = setting(
        "localhost,127.0.0.1,[::1]",
        "Host names (any port) accepted while listening on loopback; others get 403, so a web page that "
        "points its own name at 127.0.0.1 (DNS rebinding) cannot call the server",
    )
    allowed_origins: str = setting(
        "vscode-file://*,vscode-webview://*",
        "browser Origins accepted (comma-separated, * matches the rest); requests without Origin (editors, "
        "curl) always pass, any other Origin gets 403",
    )

    def listens_on_loopback(self) -> bool:
        return self.host in ("localhost", "::1") or self.host.startswith("127.")


# What `serve` (and the replay benchmark) use unless told otherwise: the typed part of the current line after
# <|fim_middle|> (typing evaluates only the typed characters; measured to cost 2 points of EM, within noise,
# see docs/results.md), healed whitespace before the cursor (no double space after accepting), and the lines
# typed since the middle's start kept after <|fim_middle|> up to 64 tokens, so a new line appends a few tokens
# instead of evaluating the suffix again (runs/new_line.sh: HumanEval single-line, the longest such middle
# against none, EM +0.003 [-0.018, +0.022] over 400 typed-cursor tasks, +0.015 [-0.020, +0.050] over 200
# line-start tasks; IDE replay, TypeScript: new-line median 1 token evaluated instead of 249).
# The bounded prompt (cold_prompt_tokens 512) is on since replay v24 (docs/performance.md, "Replay v24"): a
# request whose full prompt would evaluate more (a new file, a return, a jump) answers from a 512-token prompt
# while the full prompt's next tokens fill the rest of the budget. Before, it cost a significant share of the
# accepted characters (v11: -71 [-151, -10] per visit in TypeScript; v22: ratio 0.77 [0.59, 0.96]) because
# the share never began under a typist who leaves no idle time; with that fixed, both languages pooled:
# accepted characters 0.98x [0.92, 1.05], per visit -38.8 [-113.3, +6.8]; the first request in a file 3.4x
# faster (TypeScript 15.4 -> 5.9 s, Python 19.0 -> 5.6 s on one core here); latency p50 1.28x [1.07, 1.53].
# `eval --as-served` leaves it out: a harness example is one request on a warm file (its flag measures it).
# Brackets and quotes the editor auto-closed right of the cursor stay out of the suffix
# (suffix_skips_auto_closed; docs/results.md, "Auto-closed characters left out of the suffix"), so typing
# `(` and `)` costs their own tokens.
# The typed line's last token is healed too (heal_last_token; docs/results.md, "Token healing"): HumanEval
# single-line with the cursor inside the line's first long word (`mid-word`), on - off, EM +0.490
# [+0.443, +0.540], pass@1 +0.510 over 400 tasks (without it the model continues "cu|rrent" as "urent");
# after the line's first word (`typed`) +0.000 [-0.007, +0.007].
SERVING_PROMPT = PromptConfig(
    current_line_after_middle=True,
    heal_trailing_whitespace=True,
    heal_last_token=True,
    max_middle_tokens=64,
    suffix_skips_auto_closed=True,
    cold_prompt_tokens=512,
)
# The serving prompt of a file whose full prompt the KV cache can hold: what a harness example (`eval
# --as-served`) and a training example are made of. The bound answers only cold requests.
SERVING_FULL_PROMPT = dataclasses.replace(SERVING_PROMPT, cold_prompt_tokens=0)
# ... and the confidence gate: hide a completion whose mean token log-prob is below -0.75. Chosen in editing
# (docs/results.md, "The gate, re-chosen in editing"): `nanocomplete gate` over replays run with the gate off
# put the knee at -0.75 (answers between -0.75 and -0.5 were accepted as often as those just above -0.5,
# 42% against 40%; below -0.75, 30%, with less than half the characters each), and a replay on new
# sessions confirmed it: accepted characters per 100 typed x1.08 [1.01, 1.17] against -0.5, 14% more
# suggestions shown, latency unchanged. On HumanEval (the latest as-served run) it hides 4 of 392, none exact.
SERVING_POSTPROCESS = PostprocessConfig(min_mean_logprob=-0.75)
# ... and a time limit on generating (max_generation_ms 500, llama.vscode's t_max_predict_ms): after 500 ms
# the next token ends a completion once it has a whole line (the unfinished line dropped). Where decoding is
# fast (a laptop's GPU, ~100 tokens/s) 32 tokens take less and it never binds; on one CPU core (~67 ms a
# token) it cut the median tokens generated of a model-answered request from 16 to 8-9 and its latency p50
# from 1.8 to 0.8 s, accepted characters per 100 typed 1.00x [0.87, 1.16] of no limit over both languages
# (docs/performance.md, "Replay v27").
SERVING_GENERATION = GenerationConfig(max_generation_ms=500)

SETTING_GROUPS = (
    EngineConfig,
    PromptConfig,
    ContextConfig,
    IndexConfig,
    GenerationConfig,
    PostprocessConfig,
    TierConfig,
    ServerConfig,
)


# settings groups that only `serve` (and `bench replay`, which serves) takes as flags
SERVE_ONLY_GROUPS = ("tier", "server")

# what `serve` starts from, by settings group (the flags given go over these)
SERVING_BASES = {
    "prompt": SERVING_PROMPT,
    "generation": SERVING_GENERATION,
    "postprocess": SERVING_POSTPROCESS,
}


def settings_table() -> str:
    """Every setting as one Markdown table: name, the default `serve` uses, the default of the other
    commands that take it (`complete`, and `eval` for the engine, prompt and context groups: an
    evaluation's generation and post-processing come from its task) where it differs, help."""
    rows = [
        "| setting | default (`serve`) | default (`complete`; `eval` for engine, prompt, context) | what it "
        "does / costs |",
        "|---|---|---|---|",
    ]
    for group in SETTING_GROUPS:
        name = next(key for key, cls in SETTINGS_FLAGS.items() if cls is group)
        served = SERVING_BASES.get(name, group())
        for item in dataclasses.fields(group):
            value = getattr(served, item.name)
            other = "same" if value == item.default else f"`{item.default}`"
            if name in SERVE_ONLY_GROUPS:
                other = "– (`serve` and `bench replay` only)"
            shown = f"`{value}`" if value != "" else "empty"
            rows.append(f"| `{item.name}` | {shown} | {other} | {item.metadata['help']} |")
    return "\n".join(rows) + "\n"


# --- the same names as command-line flags ------------------------------------------------------------

# the settings groups, by the name their flags are listed under in --help
SETTINGS_FLAGS = {
    "engine": EngineConfig,
    "prompt": PromptConfig,
    "context": ContextConfig,
    "index": IndexConfig,
    "generation": GenerationConfig,
    "postprocess": PostprocessConfig,
    "tier": TierConfig,
    "server": ServerConfig,
}


def add_settings_flags(
    parser: argparse.ArgumentParser, groups: tuple[str, ...], bases: dict | None = None
) -> None:
    """One flag per setting field: `max_tokens` → `--max-tokens`; the help shows the default of `bases`
    (a group's settings the command starts from, such as SERVING_BASES) or the dataclass's."""
    for group in groups:
        section = parser.add_argument_group(f"{group} settings")
        base = (bases or {}).get(group)
        for item in dataclasses.fields(SETTINGS_FLAGS[group]):
            flag = "--" + item.name.replace("_", "-")
            default = getattr(base, item.name) if base is not None else item.default
            help_text = f"{item.metadata['help']} (default: {default})"
            if isinstance(item.default, bool):
                section.add_argument(
                    flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
                )
            else:
                section.add_argument(flag, type=type(item.default), default=None, help=help_text)


def settings_from_args(args: argparse.Namespace, group: str, base=None):
    """The settings of `group`: the flags given, over `base` (default: the dataclass defaults)."""
    cls = SETTINGS_FLAGS[group]
    given = {
        item.name: getattr(args, item.name)
        for item in dataclasses.fields(cls)
        if getattr(args, item.name, None) is not None
    }
    try:
        return dataclasses.replace(base or cls(), **given)
    except ValueError as error:
        raise NanocompleteError(str(error)) from None
