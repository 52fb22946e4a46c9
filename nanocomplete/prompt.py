"""Prompt construction (pure: no I/O). Text around the cursor + other files → token ids.

Layout, most stable first, so successive requests share the longest token prefix (the KV cache):

    [<|repo_name|>name\n] [<|file_sep|>path\ncontent\n]...  other files, in the order given
    [<|file_sep|>current_path\n]
    <|fim_prefix|>prefix <|fim_suffix|>suffix <|fim_middle|>[middle: lines typed since the anchor]

Budgets are in tokens and truncation happens at line boundaries, except in a current line that alone
exceeds `max_prefix_tokens` (minified or generated code): the prompt then keeps its end, from the earliest
multiple of a step of characters whose tokens fit (`_clip_line`), and no line before it. The suffix keeps
its first lines, and at least the start of the rest of the current line. So any file gets a completion,
and a prompt never costs more than its budgets. The prefix keeps the lines closest to
the cursor, and its first line is a multiple of `prefix_anchor_lines` (the smallest one whose lines
fit), so while the user types the prefix start stays put and only the prompt's tail changes. A caller that
remembers the previous start passes it as `prefix_start_hint`; it is kept while it still fits.

The middle. With `current_line_after_middle`, the typed part of the current line goes after
<|fim_middle|>, so typing on a line only appends to the prompt. With `max_middle_tokens` as well, the
lines typed since an earlier request stay there too: a caller passes the line where the last prompt's middle
began as `middle_start_hint`, and the middle runs from that line to the cursor while its tokens fit the
budget. A new line then appends its few tokens instead of moving the prefix's end, which would put the
whole suffix after the change (~250 tokens to evaluate again). When the middle outgrows the budget, or the
cursor is above the hinted line, the middle starts over at the cursor's line (the anchor moves). The
prompt is an ordinary FIM prompt either way: prefix, suffix, and a middle the model continues.

`FimInput.header` (the file's imports) holds lines the prefix shows even when its window starts after
them: they open the prefix, then the window follows. Their tokens come out of the prefix budget (at most
`HEADER_SHARE` of it, the lines nearest the window kept), so the prompt does not grow. That share is of
`max_prefix_tokens`, not of what the typed text leaves: typing must not change the header, which opens the
prompt's file part (a change there evaluates everything after it again).

Token healing for whitespace: the tokenizer writes "    return" as "   " + " return", so a prompt that
ends in the spaces before the cursor ends on a token boundary the model never saw, and it answers
" return" (one space too many). With `heal_trailing_whitespace` those spaces are left out of the prompt,
the model writes them again, and `Prompt.unheal` removes them from what it wrote. With `heal_last_token`
the typed line's last token is left out as well: the tokenizer writes `json.dumps` as "json" + ".dumps", so
a prompt that ends in `json.` ends on a split the model never saw, and it answers " dumps". The model writes
the token again, its first tokens held to agree with it (`Engine.generate(required_start=…)`).

Auto-closed characters. Typing `(` makes the editor insert `)` right of the cursor, and typing `)` steps over
it: the rest of the line changes at every bracket, and the suffix, which starts with it, is evaluated again
(~250 tokens). With `suffix_skips_auto_closed`, a rest of the line that starts with such a character and holds
nothing else (`auto_closed_rest`) is left out of the suffix, which then starts at the line break. The model
usually stops before the closers, as before a line's end; when it types them again, the editor's replace
range covers the ones already there (`postprocess.covered_closers`). Enter between brackets moves the closer
to a line below the cursor's (`{` Enter gives `{`, the cursor's line, `}`), so a new block's first line would
evaluate the suffix again, and so would the line after the block when the user steps past its `}`. So the
lines of closers right after a cursor line with nothing right of the cursor are left out too
(`closing_lines`): the suffix then reads the same before the Enter, inside the block and after it. The model
no longer sees those closers; a completion that closes a bracket of a line above is cut before it
(`postprocess`, which reads the document's own suffix).

User text is tokenized by the given `tokenize` function, which must not parse special tokens: a literal
"<|fim_prefix|>" in a file is text. Marker ids are inserted directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from nanocomplete import fim
from nanocomplete.config import PromptConfig
from nanocomplete.errors import PromptError
from nanocomplete.postprocess import CLOSERS, only_closing_brackets

Tokenize = Callable[[str], list[int]]
HEADER_SHARE = 0.25  # of max_prefix_tokens, at most, for header lines that the window cuts
LINE_CLIP_STEP_CHARS = 256  # at most: a line over max_prefix_tokens keeps its end from a multiple of a step
MAX_CHARS_PER_TOKEN = 32  # the longest Qwen2.5 token (its 151,936 ids decoded): bounds what a budget reads
HEAL_TAIL_CHARS = 8 * MAX_CHARS_PER_TOKEN  # of the typed line, what `last_token_text` tokenizes
# of the spaces and tabs before the cursor, at most this many are left out for the model to write back (two
# of the longest tokens); the rest stay in the prompt. Checking each generated token against the text left
# out costs its length squared: 20,000 spaces took 34 s for 256 tokens, cancellable only between tokens
HEAL_WHITESPACE_MAX_CHARS = 2 * MAX_CHARS_PER_TOKEN


@dataclass(frozen=True)
class ExtraFile:
    """Another file of the workspace (or a snippet of one) to show the model."""

    path: str
    text: str


@dataclass(frozen=True)
class FimInput:
    prefix: str
    suffix: str
    path: str | None = None
    repo_name: str | None = None
    extra_files: tuple[ExtraFile, ...] = ()
    # (line number in `prefix`, text) of lines to show even when the window cuts them; a number below 0 is
    # a line before `prefix` starts (for a caller that holds only the end of a long document)
    header: tuple[tuple[int, str], ...] = ()

    @property
    def line_prefix(self) -> str:
        """The typed part of the current line (before the cursor)."""
        return self.prefix.rpartition("\n")[2]

    @property
    def line_suffix(self) -> str:
        """The rest of the current line (after the cursor)."""
        return self.suffix.partition("\n")[0]


@dataclass(frozen=True)
class Prompt:
    tokens: tuple[int, ...]
    prefix_start_line: int  # first line of the file that the prefix window includes (0-based)
    middle: str  # text placed after <|fim_middle|>; the completion continues it
    context_tokens: int  # repo name, other files and the current path
    prefix_tokens: int
    suffix_tokens: int
    extra_files_used: tuple[str, ...]
    healed: str = ""  # text before the cursor left out of the prompt (whitespace, the last token); the
    # model writes it again
    header_lines_shown: tuple[int, ...] = ()  # header lines before the window, shown at the prefix's start
    middle_start_line: int = (
        0  # first line of the file in the middle (0-based; the cursor's line, or earlier)
    )
    auto_closed_left_out: str = ""  # the rest of the cursor's line left out of the suffix (auto-closed)
    closing_lines_left_out: str = ""  # the lines of closers after the cursor's line left out ("\n}...")

    def unheal(self, generated: str) -> str:
        """The generated text as it goes after the cursor: without the text left out of the prompt (which
        the cursor already has). A generation that stopped inside it wrote nothing new: ""."""
        if generated.startswith(self.healed):
            return generated[len(self.healed) :]
        return "" if self.healed.startswith(generated) else generated


def build(
    fim_input: FimInput,
    tokenize: Tokenize,
    config: PromptConfig = PromptConfig(),
    prefix_start_hint: int | None = None,
    middle_start_hint: int | None = None,
) -> Prompt:
    """The FIM prompt for `fim_input` within the budgets of `config`. The hints are lines of the file
    (0-based) that an earlier prompt of the same document started its prefix and its middle at."""
    head_lines, current_line = _split_prefix(fim_input.prefix)
    healed = ""
    if config.heal_trailing_whitespace:
        kept = current_line.rstrip(" \t")
        kept = max(kept, current_line[:-HEAL_WHITESPACE_MAX_CHARS], key=len)
        current_line, healed = kept, current_line[len(kept) :]
    if config.heal_last_token:
        last = last_token_text(current_line, tokenize)
        if last.strip():  # a token of spaces is heal_trailing_whitespace's to leave out, or not
            current_line, healed = current_line[: -len(last)], last + healed
    clipped = _clip_line(current_line, tokenize, config.max_prefix_tokens)
    line_offset = 0
    if clipped is not current_line:  # a minified or generated line: it is the whole prefix
        line_offset, head_lines, current_line, prefix_start_hint = len(head_lines), [], clipped, None
        middle_start_hint = None
    middle_start = _middle_start(head_lines, current_line, tokenize, config, middle_start_hint)
    typed = "".join(head_lines[middle_start:]) + current_line
    head_lines = head_lines[:middle_start]
    start, header = _window_and_header(
        head_lines, typed, fim_input.header, tokenize, config, prefix_start_hint
    )
    window = "".join(text + "\n" for _, text in header) + "".join(head_lines[start:])
    if config.current_line_after_middle:
        prefix_text, middle = window, typed
    else:
        prefix_text, middle = window + typed, ""
    prefix_ids = tokenize(prefix_text)
    middle_ids = tokenize(middle) if middle else []
    suffix, auto_closed, closing = fim_input.suffix, "", ""
    if config.suffix_skips_auto_closed:
        if fim_input.line_prefix.strip():
            auto_closed = auto_closed_rest(suffix)
            suffix = suffix[len(auto_closed) :]
        closing = closing_lines(suffix)
        line_end = len(suffix.partition("\n")[0])
        suffix = suffix[:line_end] + suffix[line_end + len(closing) :]
    suffix_ids = _truncate_suffix(suffix, tokenize, config.max_suffix_tokens)
    context_budget = config.max_context_tokens
    if config.max_prompt_tokens > 0:  # other files get what the file's own text (and 3 markers) leaves
        own = len(prefix_ids) + len(suffix_ids) + len(middle_ids) + 3
        context_budget = min(context_budget, config.max_prompt_tokens - own)
        if context_budget < MIN_BOUNDED_CONTEXT_TOKENS:
            context_budget = 0
    context_ids, used = _context(fim_input, tokenize, context_budget)
    tokens = (
        *context_ids,
        fim.FIM_PREFIX, *prefix_ids,
        fim.FIM_SUFFIX, *suffix_ids,
        fim.FIM_MIDDLE, *middle_ids,
    )  # fmt: skip
    return Prompt(
        tokens=tokens,
        prefix_start_line=start + line_offset,
        middle=middle,
        context_tokens=len(context_ids),
        prefix_tokens=len(prefix_ids) + len(middle_ids),
        suffix_tokens=len(suffix_ids),
        extra_files_used=used,
        healed=healed,
        header_lines_shown=tuple(number for number, _ in header),
        middle_start_line=middle_start + line_offset,
        auto_closed_left_out=auto_closed,
        closing_lines_left_out=closing,
    )


def last_token_text(line: str, tokenize: Tokenize) -> str:
    """The text of the last token of `line` tokenized alone: its shortest end whose removal leaves the same
    tokens but the last (at most MAX_CHARS_PER_TOKEN characters); "" when there is none, as for a token
    that holds part of a character."""
    line = line[-HEAL_TAIL_CHARS:]  # the line's end is enough to find its last token (a minified line
    ids = tokenize(line)  # is megabytes long)
    for length in range(1, min(len(line), MAX_CHARS_PER_TOKEN) + 1):
        if tokenize(line[:-length]) == ids[:-1]:
            return line[-length:]
    return ""


def auto_closed_rest(suffix: str) -> str:
    """The rest of the cursor's line (the start of `suffix`) when it starts with a character that editors
    auto-close and holds nothing but those and spaces; "" otherwise. (A space first is not what an editor
    inserts, and no replace range could cover the closers after it.)"""
    line_suffix = suffix.partition("\n")[0].removesuffix("\r")  # a CRLF line break is not the line's text
    only_closers = line_suffix[:1] in tuple(CLOSERS) and not line_suffix.strip(" \t" + CLOSERS)
    return line_suffix if only_closers else ""


def closing_lines(suffix: str) -> str:
    """The lines right after the cursor's line that hold only closing brackets (`}`, `})`, `]);`: a `;` or
    `,` after them, indentation), with the line break before each, when nothing but spaces is right of the
    cursor (`suffix` starts with the rest of the cursor's line); "" otherwise. `{` Enter puts the `}` there.
    Quotes are not taken: a line of them ends a docstring, which the model should see."""
    line, newline, after = suffix.partition("\n")
    if line.strip() or not newline:
        return ""
    taken = []
    for following in after.split("\n"):
        if not only_closing_brackets(following):
            break
        taken.append("\n" + following)
    return "".join(taken)


COLD_SUFFIX_SHARE = 0.25  # of cold_prompt_tokens, for the suffix of a bounded prompt
# less room than this left for other files under max_prompt_tokens: none (the repo name, the path and a few
# lines of one file's head; the bounded prompt without other files is what was measured, docs/performance.md)
MIN_BOUNDED_CONTEXT_TOKENS = 64
COLD_MARKER_TOKENS = 40  # room left in a bounded prompt for the FIM markers, the path and the repo name


def cold_config(config: PromptConfig, cached_context_tokens: int | None = None) -> PromptConfig:
    """The budgets of a prompt bounded to `cold_prompt_tokens` evaluated tokens: the lines nearest the
    cursor (a quarter of the budget after it, the rest before it), and other files in what the file's text
    leaves (`max_prompt_tokens`): first the `cached_context_tokens` of them that the KV cache holds (they
    cost nothing, so they do not count), or, with None, `cold_context_tokens` of them reserved from the
    prefix's share. A file of 300 tokens thus shows ~200 tokens of other files; a long one, none."""
    budget = max(64, config.cold_prompt_tokens)
    suffix = min(config.max_suffix_tokens, int(budget * COLD_SUFFIX_SHARE))
    room = budget - suffix - COLD_MARKER_TOKENS
    total = budget + (cached_context_tokens or 0)
    if cached_context_tokens is None:
        room -= min(config.max_context_tokens, config.cold_context_tokens, room // 2)
    return replace(
        config, max_prefix_tokens=min(config.max_prefix_tokens, room), max_suffix_tokens=suffix,
        max_prompt_tokens=total,
    )  # fmt: skip


def longest_middle_start(fim_input: FimInput, tokenize: Tokenize, config: PromptConfig) -> int | None:
    """The earliest line (0-based) a middle could start at within `max_middle_tokens`: as a
    `middle_start_hint`, it gives the longest middle the server would ever show at this cursor (what an
    evaluation without a typing history measures). None when the budget is 0."""
    if not config.current_line_after_middle or config.max_middle_tokens <= 0:
        return None
    head_lines, current_line = _split_prefix(fim_input.prefix)
    used = len(tokenize(current_line))
    start = len(head_lines)
    while start > 0:
        used += len(tokenize(head_lines[start - 1]))
        if used > config.max_middle_tokens:
            break
        start -= 1
    # whole-text tokenization can differ slightly from the sum over lines; move on until it fits
    while (
        start < len(head_lines)
        and len(tokenize("".join(head_lines[start:]) + current_line)) > config.max_middle_tokens
    ):
        start += 1
    return start


def _middle_start(
    head_lines: Sequence[str], current_line: str, tokenize: Tokenize, config: PromptConfig, hint: int | None
) -> int:
    """The first line of the middle (an index into `head_lines`; `len(head_lines)` is the cursor's line):
    the hinted line while the text from it to the cursor fits `max_middle_tokens`, else the cursor's
    line."""
    cursor_line = len(head_lines)
    if not config.current_line_after_middle or config.max_middle_tokens <= 0 or hint is None:
        return cursor_line
    if not 0 <= hint < cursor_line:
        return cursor_line
    typed = "".join(head_lines[hint:]) + current_line
    return hint if len(tokenize(typed)) <= config.max_middle_tokens else cursor_line


def _clip_line(line: str, tokenize: Tokenize, budget: int) -> str:
    """`line` itself when its tokens fit `budget`; else its end from the earliest multiple of a step whose
    tokens fit. The start moves in steps, so typing at the end of a minified line keeps the prompt's start
    and its KV cache; a step is a quarter of the budget in characters (~a tenth of the text kept), at
    most LINE_CLIP_STEP_CHARS."""
    step = max(1, min(LINE_CLIP_STEP_CHARS, budget // 4))
    earliest = max(0, len(line) - budget * MAX_CHARS_PER_TOKEN) // step * step  # no earlier start can fit
    if earliest == 0 and len(tokenize(line)) <= budget:
        return line
    starts = range(earliest, len(line), step)
    low, high = 0, len(starts) - 1  # the tail from starts[high] has fewer than `step` characters
    if len(tokenize(line[starts[high] :])) > budget:
        return _clip_by_characters(line[starts[high] :], tokenize, budget)
    while low < high:
        middle = (low + high) // 2
        if len(tokenize(line[starts[middle] :])) <= budget:
            high = middle
        else:
            low = middle + 1
    return line[starts[low] :]


def _clip_by_characters(text: str, tokenize: Tokenize, budget: int) -> str:
    """The longest end of `text` whose tokens fit `budget` (when not even a step's characters fit)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high) // 2
        if len(tokenize(text[middle:])) <= budget:
            high = middle
        else:
            low = middle + 1
    return text[low:]


def _split_prefix(prefix: str) -> tuple[list[str], str]:
    """Complete lines before the cursor (each with its newline) and the typed part of the current line."""
    lines = prefix.split("\n")
    return [line + "\n" for line in lines[:-1]], lines[-1]


def _window_and_header(
    head_lines: Sequence[str],
    typed: str,
    header: Sequence[tuple[int, str]],
    tokenize: Tokenize,
    config: PromptConfig,
    hint: int | None,
) -> tuple[int, tuple[tuple[int, str], ...]]:
    """The window's first line, and the header lines before it to show. Their cost shrinks the window,
    and a shrunk window can cut more header lines: the loop moves the start forward until it holds.
    `typed` is what follows the window: the middle's lines and the current line."""
    budget = config.max_prefix_tokens - len(tokenize(typed))
    if budget < 0:
        raise PromptError(f"the current line alone exceeds max_prefix_tokens={config.max_prefix_tokens}")
    start = _prefix_start(head_lines, tokenize, config, hint, budget)
    # the header's room depends on the budget, not on what is typed: a room that shrank with each typed
    # token dropped a header line every ~20 of them, and the whole prompt after it was evaluated again
    # (Python replay v8: 23 requests of ~1,200 tokens). Only a middle over half the budget shrinks it.
    room = min(int(config.max_prefix_tokens * HEADER_SHARE), budget // 2)
    while True:
        cut = sorted(line for line in header if line[0] < start)
        shown, shown_cost = _header_that_fits(cut, tokenize, room)
        moved = _prefix_start(head_lines, tokenize, config, hint, budget - shown_cost)
        if moved <= start:
            return start, shown
        start = moved


def _header_that_fits(
    cut: Sequence[tuple[int, str]], tokenize: Tokenize, room: int
) -> tuple[tuple[tuple[int, str], ...], int]:
    """The last of the `cut` header lines whose tokens fit `room` (the ones nearest the window)."""
    kept: list[tuple[int, str]] = []
    used = 0
    for line in reversed(cut):
        cost = len(tokenize(line[1] + "\n"))
        if used + cost > room:
            break
        kept.append(line)
        used += cost
    return tuple(reversed(kept)), used


def _prefix_start(
    head_lines: Sequence[str], tokenize: Tokenize, config: PromptConfig, hint: int | None, budget: int
) -> int:
    """The first head line to keep: anchored, within `budget` tokens, as early as possible."""
    earliest = _earliest_fitting_line(head_lines, tokenize, budget)
    if hint is not None and earliest <= hint <= len(head_lines):
        start = hint
    else:
        anchor = max(1, config.prefix_anchor_lines)
        start = -(-earliest // anchor) * anchor  # round up to a multiple of the anchor
        if start > len(head_lines):
            start = earliest
    # Whole-text tokenization can differ slightly from the sum over lines; move on until it fits.
    while start < len(head_lines) and len(tokenize("".join(head_lines[start:]))) > budget:
        start += 1
    # nor does it start on a blank line: consecutive newlines are one token, so a window that starts on
    # one would not begin with the tokens the line had before the move (kv_shift_min_tokens reuses them)
    while start < len(head_lines) - 1 and not head_lines[start].strip():
        start += 1
    return start


def _earliest_fitting_line(head_lines: Sequence[str], tokenize: Tokenize, budget: int) -> int:
    used = 0
    for index in range(len(head_lines) - 1, -1, -1):
        used += len(tokenize(head_lines[index]))
        if used > budget:
            return index + 1
    return 0


def exceeds(text: str, budget_tokens: int) -> bool:
    """Whether `text` has more than `budget_tokens` tokens, known without tokenizing it: no token is longer
    than MAX_CHARS_PER_TOKEN characters. So a megabyte that cannot fit costs no tokenizing (~1.2 s per MB
    here); False says nothing."""
    return len(text) > max(0, budget_tokens) * MAX_CHARS_PER_TOKEN


def _truncate_suffix(suffix: str, tokenize: Tokenize, budget: int) -> list[int]:
    """The suffix's leading lines that fit `budget` (the rest of the current line always, cut if huge)."""
    lines = suffix.split("\n")
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        piece = line if index == len(lines) - 1 else line + "\n"
        if exceeds(piece, budget - used):
            if kept:
                break
            piece = piece[: budget * MAX_CHARS_PER_TOKEN]  # the first line's tokens that can fit, no more
        cost = len(tokenize(piece))
        if used + cost > budget and kept:
            break
        kept.append(piece)
        used += cost
    ids = tokenize("".join(kept))
    return ids[:budget]


def _context(fim_input: FimInput, tokenize: Tokenize, budget: int) -> tuple[list[int], tuple[str, ...]]:
    """Repo-level header: repo name, other files (whole, or the leading lines that fit), current path."""
    ids: list[int] = []
    if fim_input.repo_name is not None:
        ids += [fim.REPO_NAME, *tokenize(fim_input.repo_name + "\n")]
    current = [fim.FILE_SEP, *tokenize((fim_input.path or "") + "\n")] if fim_input.path else []
    if len(ids) + len(current) > budget:
        return [], ()
    used: list[str] = []
    for extra in fim_input.extra_files:
        room = budget - len(ids) - len(current)
        entry = _file_entry(extra, tokenize, room)
        if entry is None:
            break
        ids += entry
        used.append(extra.path)
    return ids + current, tuple(used)


def _file_entry(extra: ExtraFile, tokenize: Tokenize, room: int) -> list[int] | None:
    header = [fim.FILE_SEP, *tokenize(extra.path + "\n")]
    text = extra.text if extra.text.endswith("\n") else extra.text + "\n"
    if not exceeds(text, room - len(header)):
        body = tokenize(text)
        if len(header) + len(body) <= room:
            return header + body
    kept: list[str] = []
    used = len(header)
    for line in text.splitlines(keepends=True):
        if exceeds(line, room - used):
            break
        cost = len(tokenize(line))
        if used + cost > room:
            break
        kept.append(line)
        used += cost
    if not kept:
        return None
    body = tokenize("".join(kept))
    return header + body if len(header) + len(body) <= room else None
