"""The peer a user would pick instead of us: llama.vscode driving llama.cpp's own `llama-server`.

Reproduced from ggml-org/llama.vscode at 3938fb3 (2026-08-19) with its default settings (package.json):
- `fim_inputs`: src/completion.ts `getCompletionItems` and src/utils.ts `getPrefixLines` / `getSuffixLines`:
  the 256 lines before the cursor's line, the cursor line's text before the cursor as `prompt` (empty when
  it is only indentation), the rest of the line and the next 64 lines as the suffix; no request when more
  than 8 characters follow the cursor on its line;
- `infill_body` / `ring_update_body`: src/llama-server.ts `createRequestPayload` (`/infill`, `id_slot` 0,
  `n_predict` 128, `t_max_prompt_ms` / `t_max_predict_ms` 500, top-k 40, top-p 0.99, samplers top_k, top_p,
  infill, `cache_prompt`, `n_indent`, `n_cmpl` 3; ring updates with `n_predict` 0);
- `Ring`: src/extra-context.ts (16 chunks of at most 32 lines, picked around the cursor when a file becomes
  active, and from far above and below the cursor after a completion 32+ lines from the last pick; one
  queued chunk moves into the ring per update while the user pauses);
- `ResultCache`: the client's LRU of 250 results keyed by prefix|suffix|prompt, which also answers while
  the user types what was suggested (`getCachedCompletion`);
- `shown_suggestion`: `shouldDiscardSuggestion`, `updateSuggestion`, `removeLeadingSpaces`.
Not reproduced: the speculative requests it sends after a suggestion is shown (for the text after
accepting it); the replay has no idle time in which they would run.

`SERVER_FLAGS` is llama.vscode's README "CPU-only" configuration for the 0.5B model.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass

N_PREFIX_LINES = 256
N_SUFFIX_LINES = 64
N_PREDICT = 128
T_MAX_PROMPT_MS = 500
T_MAX_PREDICT_MS = 500
MAX_LINE_SUFFIX = 8
MAX_PARALLEL_COMPLETIONS = 3
RING_N_CHUNKS = 16
RING_CHUNK_SIZE = 64
RING_SCOPE = 1024
MAX_LAST_PICK_LINE_DISTANCE = 32
MAX_QUEUED_CHUNKS = 16
MAX_CACHE_KEYS = 250
SERVER_FLAGS = ("-ub", "1024", "-b", "1024", "--ctx-size", "0", "--cache-reuse", "256")


@dataclass(frozen=True)
class FimInputs:
    input_prefix: str
    input_suffix: str
    prompt: str  # the cursor line before the cursor ("" when only indentation)
    n_indent: int  # the cursor line's indentation, in characters
    spaces_to_remove: int  # leading whitespace llama.vscode strips from the shown suggestion
    line_prefix: str
    line_suffix: str


def fim_inputs(lines: list[str], line: int, character: int) -> FimInputs | None:
    """What llama.vscode sends for a cursor at (`line`, `character`) in a document of `lines`; None when
    it would not ask (more than `MAX_LINE_SUFFIX` characters after the cursor)."""
    text = lines[line]
    line_prefix, line_suffix = text[:character], text[character:]
    if len(line_suffix) > MAX_LINE_SUFFIX:
        return None
    start = max(0, line - N_PREFIX_LINES)
    end = min(len(lines) - 1, line + N_SUFFIX_LINES)
    only_indent = line_prefix.strip(" \t") == ""
    return FimInputs(
        input_prefix="\n".join(lines[start:line]) + "\n",
        input_suffix=line_suffix + "\n" + "\n".join(lines[line + 1 : end + 1]) + "\n",
        prompt="" if only_indent else line_prefix,
        n_indent=len(text) - len(text.lstrip()),
        spaces_to_remove=len(line_prefix) if only_indent else 0,
        line_prefix=line_prefix,
        line_suffix=line_suffix,
    )


def infill_body(inputs: FimInputs, chunks: list[dict]) -> dict:
    """The body of llama.vscode's `/infill` completion request (createRequestPayload, noPredict false)."""
    body = {
        "id_slot": 0,
        "input_prefix": inputs.input_prefix,
        "input_suffix": inputs.input_suffix,
        "input_extra": chunks,
        "prompt": inputs.prompt,
        "n_predict": N_PREDICT,
        "n_cmpl": MAX_PARALLEL_COMPLETIONS,
        "top_k": 40,
        "top_p": 0.99,
        "stream": False,
        "samplers": ["top_k", "top_p", "infill"],
        "cache_prompt": True,
    }
    if inputs.n_indent:
        body["n_indent"] = inputs.n_indent
    body["t_max_prompt_ms"] = T_MAX_PROMPT_MS
    body["t_max_predict_ms"] = T_MAX_PREDICT_MS
    return body


def ring_update_body(chunks: list[dict]) -> dict:
    """The body of llama.vscode's ring update: the chunks evaluated, nothing generated."""
    return {
        "id_slot": 0,
        "input_prefix": "",
        "input_suffix": "",
        "input_extra": chunks,
        "prompt": "",
        "n_predict": 0,
        "samplers": [],
        "cache_prompt": True,
        "t_max_prompt_ms": T_MAX_PROMPT_MS,
        "t_max_predict_ms": 1,
    }


def completions_of(response: dict | list) -> list[str]:
    """getComplFromContent: one `content`, or the distinct contents of several (`n_cmpl`)."""
    if isinstance(response, dict):
        return [response.get("content") or ""] if "content" in response else []
    return list(dict.fromkeys(item.get("content") or "" for item in response))


def shown_suggestion(completion: str, lines: list[str], line: int, inputs: FimInputs) -> str | None:
    """What llama.vscode shows for one completion, or None when it discards it."""
    suggestion = completion.replace("\r\n", "\n").split("\n")
    while suggestion and suggestion[-1].strip() == "":
        suggestion.pop()
    if _discard(suggestion, lines, line, inputs.line_prefix, inputs.line_suffix):
        return None
    text = _update(suggestion, inputs.line_suffix)
    return _remove_leading_spaces(text, inputs.spaces_to_remove)


def _discard(suggestion: list[str], lines: list[str], line: int, line_prefix: str, line_suffix: str) -> bool:
    if not suggestion:
        return True
    if len(suggestion) == 1 and suggestion[0].strip() == "":
        return True
    if line == len(lines) - 1:
        return False
    if (
        len(suggestion) > 1
        and suggestion[0].strip() in ("", line_suffix.strip())
        and all(_line(lines, line + 1 + i) == value for i, value in enumerate(suggestion[1:]))
    ):
        return True
    if len(suggestion) == 1 and suggestion[0] == line_suffix:
        return True
    first = line + 1
    while first < len(lines) and lines[first].strip() == "":
        first += 1
    if first >= len(lines):
        return False
    if line_prefix + suggestion[0] == lines[first]:
        if len(suggestion) == 1:
            return True
        if len(suggestion) == 2 and suggestion[1] == _line(lines, first + 1)[: len(suggestion[1])]:
            return True
        if len(suggestion) > 2 and all(
            _line(lines, first + 1 + i) == v for i, v in enumerate(suggestion[1:])
        ):
            return True
    return False


def _line(lines: list[str], index: int) -> str | None:
    return lines[index] if 0 <= index < len(lines) else None


def _update(suggestion: list[str], line_suffix: str) -> str:
    if line_suffix.strip() != "":
        if suggestion[0].endswith(line_suffix):
            return suggestion[0][: -len(line_suffix)]
        if len(suggestion) > 1:
            return suggestion[0]
    return "\n".join(suggestion)


def _remove_leading_spaces(text: str, count: int) -> str:
    i = 0
    while i < len(text) and ((i < count and text[i] == " ") or text[i] == "\t"):
        i += 1  # llama.vscode's loop condition, precedence included
    return text[i:]


class ResultCache:
    """llama.vscode's client-side LRU of results, with its typing-through lookup."""

    def __init__(self, capacity: int = MAX_CACHE_KEYS):
        self.capacity = capacity
        self.entries: OrderedDict[str, list[str]] = OrderedDict()

    def get(self, inputs: FimInputs) -> list[str] | None:
        found = self._get(self._key(inputs, inputs.prompt))
        if found is not None:
            return found
        for cut in range(len(inputs.prompt), -1, -1):
            shorter, typed = inputs.prompt[:cut], inputs.prompt[cut:]
            result = self._get(self._key(inputs, shorter))
            if result is None:
                continue
            completions = [c[len(typed) :] for c in result if c and c[: len(typed)] == typed]
            if completions:
                return completions
        return None

    def put(self, inputs: FimInputs, completions: list[str]) -> None:
        key = self._key(inputs, inputs.prompt)
        self.entries.pop(key, None)
        self.entries[key] = completions
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)

    def _get(self, key: str) -> list[str] | None:
        if key not in self.entries:
            return None
        self.entries.move_to_end(key)
        return self.entries[key]

    @staticmethod
    def _key(inputs: FimInputs, prompt: str) -> str:
        return inputs.input_prefix + "|" + inputs.input_suffix + "|" + prompt


class Ring:
    """llama.vscode's ring of extra-context chunks (src/extra-context.ts); `rng` replaces Math.random."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.chunks: list[dict] = []
        self.chunk_lines: list[list[str]] = []
        self.queued: list[dict] = []
        self.queued_lines: list[list[str]] = []
        self.last_pick_line = -9999

    def pick_around_cursor(self, lines: list[str], line: int, filename: str, dirty: bool) -> None:
        """When a file becomes active (and the one left): a chunk around its cursor, unless it has unsaved
        changes."""
        if dirty:
            return
        half = RING_CHUNK_SIZE // 2
        self.pick(lines[max(0, line - half) : min(line + half, len(lines) - 1) + 1], True, filename)

    def after_completion(self, lines: list[str], line: int, filename: str) -> None:
        """addFimContextChunks: far-away chunks once the cursor moved more than 32 lines."""
        if abs(line - self.last_pick_line) <= MAX_LAST_PICK_LINE_DISTANCE:
            return
        last = len(lines) - 1
        self.pick(lines[max(0, line - RING_SCOPE) : max(0, line - N_PREFIX_LINES) + 1], False, filename)
        after = lines[
            min(last, line + N_SUFFIX_LINES) : min(last, line + N_SUFFIX_LINES + RING_CHUNK_SIZE) + 1
        ]
        self.pick(after, False, filename)
        self.last_pick_line = line

    def pick(self, lines: list[str], evict: bool, filename: str) -> None:
        if len(lines) < 3:
            return
        if len(lines) + 1 < RING_CHUNK_SIZE:
            chosen = lines
        else:
            start = int(self.rng.random() * max(0, len(lines) - RING_CHUNK_SIZE // 2 + 1))
            chosen = lines[start : min(start + RING_CHUNK_SIZE // 2, len(lines))]
        text = "\n".join(chosen) + "\n"
        if evict and any(c["text"] == text for c in self.chunks + self.queued):
            return
        if evict:
            self._evict_similar(self.chunks, self.chunk_lines, chosen)
            self._evict_similar(self.queued, self.queued_lines, chosen)
        if len(self.queued) >= MAX_QUEUED_CHUNKS:
            self.queued.pop(0)
            self.queued_lines.pop(0)
        self.queued.append({"text": text, "time": 0, "filename": filename})
        self.queued_lines.append(chosen)

    def update(self) -> bool:
        """periodicRingBufferUpdate: move one queued chunk into the ring; True when one moved (llama.vscode
        then sends `ring_update_body`)."""
        if not self.queued:
            return False
        self.chunks.append(self.queued.pop(0))
        self.chunk_lines.append(self.queued_lines.pop(0))
        while len(self.chunks) > RING_N_CHUNKS:
            self.chunks.pop(0)
            self.chunk_lines.pop(0)
        return True

    @staticmethod
    def _evict_similar(chunks: list[dict], chunk_lines: list[list[str]], new: list[str]) -> None:
        for i in range(len(chunks) - 1, -1, -1):
            if _jaccard(chunk_lines[i], new) > 0.9:
                chunks.pop(i)
                chunk_lines.pop(i)


def _jaccard(a: list[str], b: list[str]) -> float:
    if not a and not b:
        return 1.0
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb)
