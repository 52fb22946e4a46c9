"""Post-processing of a raw model completion (pure: no I/O).

Rules, in order (each only shortens the text: the result is a prefix of the raw completion, plus, before a
line's text, the line break that keeps that text on its own line):
1. Mid-line cursor (code on both sides): keep the first line only.
   End of line, or before a line's text (only indentation left of the cursor; that text is then the
   next line, and the kept lines end with a line break and the indentation): several lines are allowed,
   up to `max_lines`, but the completion stops at a blank line after code and before a line indented
   less than the current block (or, after a line that opens a block, not deeper than it).
2. Stop before a line that repeats the next non-empty line of the document, or the cursor's line as
   just completed (the model looping: it finishes the line, then writes it again); drop a completion
   whose first line already is the document's next line.
3. Trim a tail that duplicates the start of the text right of the cursor when that makes the line's
   brackets and quotes balance better (the model closed what the document already closes); drop a
   completion equal to the rest of the line. Auto-closed characters right of the cursor (`')` after
   `describe('sum`) that the completion types again, all and in order, are replaced by it (the server's
   replace range covers them, `covered_closers`); typed again only in part, the completion is cut before
   them. With nothing right of the cursor and a line of closing brackets right below (Enter between
   brackets put it there, and the prompt leaves it out: `prompt.closing_lines`), the completion is cut
   before the first bracket it closes that was opened before the cursor: that line already closes it.
4. Strip trailing whitespace and blank lines; drop whitespace-only and too-short completions.
5. A completion that ran out of tokens or time (`cut_off`: the model was still writing) drops its last line
   when it has lines before it: that line stopped at the limit, in the middle of an expression. One line that
   ran out of tokens while repeating itself (`" 🌟" + " 🌟" + " 🌟" + "…`: a loop, `_loops`) is dropped.
6. Confidence gate: the completion is cut before its first token whose log-probability is below
   `min_token_logprob`, and hidden when the mean log-probability of the tokens kept is below
   `min_mean_logprob`. The mean and minimum go with every result.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from nanocomplete.config import PostprocessConfig

BLOCK_OPENERS = (":", "{", "(", "[", "=>")
BRACKET_PAIRS = {")": "(", "]": "[", "}": "{"}
QUOTES = ("'", '"', "`")
CLOSERS = ")]}>'\"`"  # what editors auto-close after the cursor
CLOSING_BRACKETS = ")]}"  # what `{`, `(` or `[` then Enter leaves on the line below the cursor's


@dataclass(frozen=True)
class CursorText:
    """What surrounds the cursor: the typed part of its line, the rest of its line, the lines after."""

    line_prefix: str
    line_suffix: str
    next_lines: tuple[str, ...] = ()

    @classmethod
    def around(cls, prefix: str, suffix: str, lookahead_lines: int = 8) -> CursorText:
        line_suffix, _, after = suffix.partition("\n")
        return cls(
            line_prefix=prefix.rpartition("\n")[2],
            line_suffix=line_suffix,
            next_lines=tuple(after.split("\n")[:lookahead_lines]) if after else (),
        )

    @property
    def mid_line(self) -> bool:
        """Code on both sides of the cursor: the completion finishes this line only."""
        return bool(self.line_suffix.strip()) and bool(self.line_prefix.strip())

    @property
    def before_line_text(self) -> bool:
        """Only indentation left of the cursor, code right of it (column 0 of a non-empty line): the
        completion inserts whole lines above that code, which stays on its own line."""
        return bool(self.line_suffix.strip()) and not self.line_prefix.strip()

    def for_rules(self) -> CursorText:
        """The cursor the line rules see: before a line's text, that text is the next line."""
        if not self.before_line_text:
            return self
        return CursorText(self.line_prefix, "", (self.line_prefix + self.line_suffix, *self.next_lines))

    @property
    def next_nonempty_line(self) -> str | None:
        return next((line for line in self.next_lines if line.strip()), None)


@dataclass(frozen=True)
class Result:
    text: str
    tokens_kept: int
    mean_logprob: float | None
    min_logprob: float | None
    hidden: bool = False  # the confidence gate hid a completion the other rules kept


def process(
    raw: str,
    cursor: CursorText,
    config: PostprocessConfig = PostprocessConfig(),
    token_end_chars: Sequence[int] = (),
    token_logprobs: Sequence[float] = (),
    cut_off: bool = False,
) -> Result:
    """Apply the rules to `raw`; `token_end_chars[i]` is where token i ends in `raw`; `cut_off`: the
    generation stopped at its token or time limit (`max_tokens`, `max_generation_ms`), not at a stop token
    or a rule. Before a line's text (`CursorText.before_line_text`) the kept lines end with a line break
    and the line's indentation, so that text stays on its own line where it was."""
    rules = cursor.for_rules()
    confident = _confident_length(raw, token_end_chars, token_logprobs, config.min_token_logprob)
    text = raw[: min(confident, cut_index(raw, rules, config))]
    last_break = raw.rfind("\n")
    if cut_off and has_whole_line(raw) and last_break < len(text):
        text = text[:last_break]  # the kept text reaches into the line the limit cut, after lines of text
    elif cut_off and _loops(text):
        text = ""
    text = _before_closers_below(text, rules)
    text = _trim_suffix_overlap(text, rules)
    text = _before_partly_retyped_closers(text, rules)
    text = _strip_trailing(text)
    if _rejected(text, rules, config):
        text = ""
    result = _with_confidence(text, token_end_chars, token_logprobs)
    if result.mean_logprob is not None and result.mean_logprob < config.min_mean_logprob:
        return Result("", result.tokens_kept, result.mean_logprob, result.min_logprob, hidden=True)
    if result.text and cursor.before_line_text:
        return dataclasses.replace(result, text=result.text + "\n" + cursor.line_prefix)
    return result


def has_whole_line(raw: str) -> bool:
    """Whether a line with text ends in `raw` before its last line (the line a limit may have cut): what a
    cut-off completion keeps, and what the engine waits for before `max_generation_ms` may end one."""
    return bool(raw[: max(raw.rfind("\n"), 0)].strip())


def retyped_closers(text: str, line_suffix: str) -> tuple[int, int]:
    """The auto-closed characters that open the rest of the line (quotes, `)`, `]`, `}`, `>`, as an editor
    inserts them) and the completion's first line types again, in order: (how many, where in `text` the
    first of them is; len(text) when none). A closer counts only when the completion does not close its
    own opener with it: in `describe('sum§')`, "Prices', () => {" types the quote again but its `)` closes
    its own `(`."""
    run = line_suffix[: len(line_suffix) - len(line_suffix.lstrip(CLOSERS))]
    line = text.split("\n")[0]
    found, first, depth = 0, len(text), []
    quotes = dict.fromkeys(QUOTES, False)  # a quote the completion itself opened
    openers = "([{<" if ">" in run else "([{"  # `<` opens only where a `>` was auto-closed (TSX, generics)
    for index, char in enumerate(line):
        if found == len(run):
            break
        if char in QUOTES and quotes[char]:
            quotes[char] = False
        elif char in QUOTES and char != run[found]:
            quotes[char] = True
        elif char in openers and not any(quotes.values()):
            depth.append(char)
        elif (char in BRACKET_PAIRS or char == ">") and depth and depth[-1] == BRACKET_PAIRS.get(char, "<"):
            depth.pop()
            continue
        if char == run[found] and not depth and not any(quotes.values()):
            first = index if found == 0 else first
            found += 1
    return found, first


def covered_closers(text: str, line_suffix: str, line_prefix: str = "") -> int:
    """How many characters after the cursor the completion replaces: all the auto-closed characters that
    open the rest of the line when it types them all again (VS Code's inline completions take such a
    range), else none. With `line_prefix` (the typed part of the line), only when the line it leaves is no
    less balanced than keeping them: in `label = '§'`, "total' if x else 'price" types the quote again
    but needs the one that is there to close its last string."""
    run = len(line_suffix) - len(line_suffix.lstrip(CLOSERS))
    found, _ = retyped_closers(text, line_suffix)
    if not run or found != run:
        return 0
    line = line_prefix + text.split("\n")[0]
    return run if _imbalance(line + line_suffix[run:]) <= _imbalance(line + line_suffix) else 0


def _confident_length(
    raw: str, token_end_chars: Sequence[int], token_logprobs: Sequence[float], min_token_logprob: float
) -> int:
    """Where the first token less likely than `min_token_logprob` starts (len(raw) if none is)."""
    start = 0
    for end, logprob in zip(token_end_chars, token_logprobs, strict=True):
        if logprob < min_token_logprob:
            return start
        start = end
    return len(raw)


def cut_index(raw: str, cursor: CursorText, config: PostprocessConfig) -> int:
    """Where rules 1 and 2 end the completion (len(raw) if they do not)."""
    lines = raw.split("\n")
    if cursor.mid_line:
        return len(lines[0])
    first = cursor.line_prefix + lines[0]
    if _repeats_next_line(first, cursor) or _repeats_next_line(lines[0], cursor):
        return 0
    block = _Block.of(first, lines[1:])
    offset = len(lines[0])
    seen_code = bool(first.strip())
    for index, line in enumerate(lines[1:], start=1):
        terminated = index < len(lines) - 1
        blank_after_code = config.stop_at_blank_line and seen_code and terminated and not line.strip()
        if index >= config.max_lines or blank_after_code or block.ends_before(line):
            return offset
        if _repeats_next_line(line, cursor) or (
            index == 1 and cursor.line_prefix.strip() and _repeats(line, first)
        ):
            return offset
        seen_code = seen_code or bool(line.strip())
        offset += 1 + len(line)
    return len(raw)


def _repeats(line: str, completed: str) -> bool:
    """The model looping: the line after the cursor's line, which the user had started, is that line again
    as completed (indentation included, more than a bracket on it). Repeats of lines the model wrote
    alone are left alone: a matrix's rows can be."""
    return len(line.strip()) > 1 and line.rstrip() == completed.rstrip()


def is_finished(raw: str, cursor: CursorText, config: PostprocessConfig) -> bool:
    """True once the rules cut `raw` before its end on evidence that more tokens cannot change:
    complete lines, or the indentation of a started last line. The engine may then stop early."""
    cursor = cursor.for_rules()
    head, newline, last = raw.rpartition("\n")
    if not newline:
        return False
    complete = head + newline
    if cut_index(complete, cursor, config) < len(complete):
        return True
    lines = complete.split("\n")
    if len(lines) > config.max_lines:
        return True
    block = _Block.of(cursor.line_prefix + lines[0], lines[1:])
    return bool(last.strip()) and block.ends_before(last)


@dataclass(frozen=True)
class _Block:
    """The indentation that continuation lines must keep."""

    indent: int
    opened: bool  # the first line opens a block: continuation lines must be deeper

    @classmethod
    def of(cls, first: str, rest: Sequence[str]) -> _Block:
        reference = next((line for line in (first, *rest) if line.strip()), first)
        return cls(_indent(reference), first.strip() != "" and first.rstrip().endswith(BLOCK_OPENERS))

    def ends_before(self, line: str) -> bool:
        if not line.strip():
            return False
        return _indent(line) <= self.indent if self.opened else _indent(line) < self.indent


def _repeats_next_line(line: str, cursor: CursorText) -> bool:
    following = cursor.next_nonempty_line
    return following is not None and line.strip() == following.strip() and bool(line.strip())


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def _trim_suffix_overlap(text: str, cursor: CursorText) -> str:
    """Drop the longest tail of the first line that equals the start of the rest of the line, when the
    line is better balanced without it."""
    after = cursor.line_suffix.strip()
    if not after or "\n" in text:
        return text
    for size in range(min(len(after), len(text)), 0, -1):
        if text.endswith(after[:size]):
            shorter = text[:-size]
            line_with = cursor.line_prefix + text + cursor.line_suffix
            line_without = cursor.line_prefix + shorter + cursor.line_suffix
            if _imbalance(line_without) < _imbalance(line_with):
                return shorter
    return text


def _before_closers_below(text: str, cursor: CursorText) -> str:
    """Cut before the first closing bracket of `text` that closes one opened on a line above the cursor's
    (brackets inside quotes aside; those opened on the cursor's line are its own to close), when the rest
    of the cursor's line is empty and the next line holds only closing brackets (and a `;` or `,`)."""
    below = cursor.next_lines[0] if cursor.next_lines and not cursor.line_suffix.strip() else ""
    if not only_closing_brackets(below):
        return text
    line = cursor.line_prefix + text
    depth, quote = 0, ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in QUOTES:
            quote = char
        elif char in "([{":
            depth += 1
        elif char in BRACKET_PAIRS:
            depth = max(0, depth - 1) if index < len(cursor.line_prefix) else depth - 1
            if depth < 0:
                return text[: index - len(cursor.line_prefix)]
    return text


LOOP_MIN_CHARS = 16  # a repeated tail shorter than this is not called a loop (`0, 0, 0, ` may be meant)
LOOP_MAX_UNIT_CHARS = 64  # the longest unit looked for (the check stays ~linear in the line's length)


def _loops(line: str) -> bool:
    """Whether `line` ends in a loop: a tail of at least three repeats of one unit (of at most
    LOOP_MAX_UNIT_CHARS), LOOP_MIN_CHARS or more long, that is at least half the line."""
    for period in range(1, min(len(line) // 3, LOOP_MAX_UNIT_CHARS) + 1):
        tail = period
        while tail < len(line) and line[-tail - 1] == line[-tail - 1 + period]:
            tail += 1
        if tail >= max(3 * period, LOOP_MIN_CHARS) and 2 * tail >= len(line):
            return True
    return False


def document_line_break(prefix: str, suffix: str) -> str:
    """The line break the document uses at the cursor: that of the last one before it, else of the first
    after it ("\r\n" or "\n"); "\n" in a document of one line."""
    end = prefix.rfind("\n")
    if end >= 0:
        return "\r\n" if prefix[end - 1 : end] == "\r" else "\n"
    end = suffix.find("\n")
    return "\r\n" if end > 0 and suffix[end - 1] == "\r" else "\n"


def with_line_break(text: str, line_break: str) -> str:
    """`text` with every line break written as `line_break` (the model writes "\n" after "\r\n" lines
    too)."""
    return text if line_break == "\n" else text.replace("\r\n", "\n").replace("\n", line_break)


def only_closing_brackets(line: str) -> bool:
    """A line of closing brackets alone (`}`, `})`, `]);`: one `;` or `,` after them, indentation): what
    Enter between brackets leaves below the cursor's line (`prompt.closing_lines` leaves such lines out)."""
    code = line.strip()
    if code[-1:] in (";", ","):
        code = code[:-1]
    return bool(code) and not code.strip(CLOSING_BRACKETS)


def _before_partly_retyped_closers(text: str, cursor: CursorText) -> str:
    """Cut before the auto-closed characters the completion types again when it does not type them all:
    no range can then cover them, and inserting them would double them."""
    run = len(cursor.line_suffix) - len(cursor.line_suffix.lstrip(CLOSERS))
    found, first = retyped_closers(text, cursor.line_suffix)
    return text[:first] if 0 < found < run else text


def _imbalance(line: str) -> int:
    """Unmatched brackets plus quote kinds with an odd count (strings are not parsed: a heuristic)."""
    stack: list[str] = []
    unmatched = 0
    for char in line:
        if char in "([{":
            stack.append(char)
        elif char in BRACKET_PAIRS:
            if stack and stack[-1] == BRACKET_PAIRS[char]:
                stack.pop()
            else:
                unmatched += 1
    odd_quotes = sum(line.count(quote) % 2 for quote in QUOTES)
    return unmatched + len(stack) + odd_quotes


def _strip_trailing(text: str) -> str:
    lines = [line.rstrip() for line in text.rstrip().split("\n")]
    return "\n".join(lines) if any(lines) else ""


def _rejected(text: str, cursor: CursorText, config: PostprocessConfig) -> bool:
    if len(text.strip()) < config.min_chars:
        return True
    return cursor.mid_line and text.strip() == cursor.line_suffix.strip()


def _with_confidence(text: str, token_end_chars: Sequence[int], token_logprobs: Sequence[float]) -> Result:
    if not text:
        return Result("", 0, None, None)
    kept = _kept_logprobs(len(text), token_end_chars, token_logprobs)
    if not kept:
        return Result(text, 0, None, None)
    return Result(text, len(kept), math.fsum(kept) / len(kept), min(kept))


def _kept_logprobs(
    length: int, token_end_chars: Sequence[int], token_logprobs: Sequence[float]
) -> list[float]:
    """Log-probabilities of the tokens that begin inside the kept text."""
    kept = []
    start = 0
    for end, logprob in zip(token_end_chars, token_logprobs, strict=True):
        if start >= length:
            break
        kept.append(logprob)
        start = end
    return kept
