"""Where an editor asks for a completion, and what the answer is (pure: no I/O, seeded).

Kinds of cursor, as completions are triggered while typing:
- after_trigger: mid-line, right after `.`, `(`, `=`, `,` or `:` (sometimes after the space that follows);
  the answer is the rest of the line;
- end_of_line: at the end of a finished line; the answer is a newline and the next line (or a short block);
- new_line: at the start of a new line inside a block, after the indentation the editor inserts; the
  answer is that line (or a short block).
A block continues over non-blank lines indented at least as deep as its first line, up to
`MAX_BLOCK_LINES`; the builder shortens it until it fits the token limit. Cursors sit on code lines only
(no blank, comment, docstring or parse-error lines) after at least `MIN_CODE_LINES_BEFORE` code lines; one
cursor per kind and line at most.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

KINDS = ("after_trigger", "end_of_line", "new_line")
TRIGGERS = ".(=,:"
COMMENT_STARTS = ("#", "//", "/*", "*")
MIN_CODE_LINES_BEFORE = 3
MIN_TARGET_CHARS = 2  # non-space characters in the answer
MAX_BLOCK_LINES = 4
MULTI_LINE_SHARE = 0.3  # of end_of_line and new_line cursors, those that try a block
SPACE_AFTER_TRIGGER_SHARE = 0.5  # after_trigger cursors placed after the space that follows the trigger


@dataclass(frozen=True)
class Cursor:
    kind: str  # one of KINDS
    row: int  # 0-based line of the cursor
    column: int  # characters into that line
    block_lines: int  # lines of the answer (1: single line)


def code_rows(lines: Sequence[str], noncode: frozenset[int], error_lines: frozenset[int]) -> list[bool]:
    """For each line: whether it is code worth a cursor."""
    flags, code_before = [], 0
    for row, line in enumerate(lines):
        stripped = line.strip()
        is_code = bool(stripped) and row not in noncode and not stripped.startswith(COMMENT_STARTS)
        flags.append(is_code and row not in error_lines and code_before >= MIN_CODE_LINES_BEFORE)
        code_before += is_code
    return flags


def cursors(lines: Sequence[str], code: Sequence[bool], rng: random.Random) -> list[Cursor]:
    """Every cursor of a file (at most one per kind and line), in line order."""
    found: list[Cursor] = []
    for row, line in enumerate(lines):
        if not code[row]:
            continue
        column = _trigger_column(line, rng)
        if column is not None:
            found.append(Cursor("after_trigger", row, column, 1))
        if row + 1 < len(lines) and code[row + 1]:
            found.append(Cursor("end_of_line", row, len(line.rstrip()), _block(lines, row + 1, rng)))
        indent = len(line) - len(line.lstrip())
        if indent > 0 and len(line.strip()) >= MIN_TARGET_CHARS:
            found.append(Cursor("new_line", row, indent, _block(lines, row, rng)))
    return found


def target(lines: Sequence[str], cursor: Cursor, block_lines: int | None = None) -> tuple[str, int]:
    """The answer at `cursor` (trailing whitespace of its last line left out) and the last row it covers."""
    count = cursor.block_lines if block_lines is None else block_lines
    first = cursor.row + 1 if cursor.kind == "end_of_line" else cursor.row
    rows = list(range(first, first + count))
    if cursor.kind == "end_of_line":
        text = "\n" + "\n".join(lines[row] for row in rows)
    else:
        text = "\n".join([lines[cursor.row][cursor.column :], *(lines[row] for row in rows[1:])])
    return text.rstrip(), rows[-1]


def offset(lines: Sequence[str], cursor: Cursor) -> int:
    """The cursor's character offset in the file text ("\\n".join(lines))."""
    return sum(len(line) + 1 for line in lines[: cursor.row]) + cursor.column


def _trigger_column(line: str, rng: random.Random) -> int | None:
    """A random column right after a trigger character with enough code after it, or None."""
    end = len(line.rstrip())
    indent = len(line) - len(line.lstrip())
    columns = [p + 1 for p in range(indent, end - 1) if _is_trigger(line, p)]
    columns = [c for c in columns if len(line[c:end].strip()) >= MIN_TARGET_CHARS]
    if not columns:
        return None
    column = rng.choice(columns)
    if line[column] == " " and rng.random() < SPACE_AFTER_TRIGGER_SHARE:
        column += 1
    return column


def _is_trigger(line: str, p: int) -> bool:
    char = line[p]
    if char not in TRIGGERS or _in_string(line, p):
        return False
    after, before = line[p + 1], line[p - 1] if p else ""
    if char == "=":
        return after not in "=>" and before not in "=!<>+-*/%&|^:"
    if char in ":.":
        return after != char and before != char
    return True


def _in_string(line: str, p: int) -> bool:
    """Whether position `p` is inside a string literal that opens on this line (an estimate)."""
    quote = None
    escaped = False
    for char in line[:p]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote is None and char in "'\"`":
            quote = char
        elif char == quote:
            quote = None
    return quote is not None


def _block(lines: Sequence[str], first: int, rng: random.Random) -> int:
    """How many lines a block answer starting at `first` takes (1 unless the draw asks for a block)."""
    if rng.random() >= MULTI_LINE_SHARE:
        return 1
    indent = len(lines[first]) - len(lines[first].lstrip())
    count = 1
    while count < MAX_BLOCK_LINES and first + count < len(lines):
        line = lines[first + count]
        if not line.strip() or len(line) - len(line.lstrip()) < indent:
            break
        count += 1
    return count
