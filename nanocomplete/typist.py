"""The simulated typist of the IDE replay (pure: the server it talks to is injected as an `Arm`).

A session is a seeded script of visits to regions of a repository's files. Each region (a stretch of
`REGION_LINES` lines inside a function) is removed from the workspace before the session, and the typist
writes it back character by character, the way an editor sends it:
- it asks for a completion at every line start (after the editor's auto-indent) and after each of
  `TRIGGER_CHARACTERS`;
- it accepts what the suggestion gets right, whole or word by word (`accepted_prefix`), and does not
  type what it accepted;
- now and then it deletes a few characters it just typed, asks again, and types them again;
- it switches files (the editor warms the new file), comes back, and jumps to a second region of the
  same file;
- with a pace (`Habits`), it takes time as a person does: milliseconds per typed character, and a pause
  after opening a file, during which the server's warm-ups run (the default pace sends the next request the
  moment an answer comes);
- with `auto_close` (the default, as in VS Code), the editor closes brackets and quotes as they are typed:
  the closers of the current line's open brackets and strings stand right of the cursor, and typing a
  closer steps over its own (`auto_closed`). Enter with closers right of the cursor moves them to a line
  of their own below the cursor's, at the line's indentation (`{` Enter: the `}` waits below the new
  block). When the typist reaches the line that closes the block, it steps onto that `}` instead of
  typing it (the user's arrow key; not a typed character) and types the rest of the line after it. A closer
  line still waiting when its region is written is deleted;
Every request is labelled with its kind (`REQUEST_KINDS`), which is what latency depends on.

The script depends only on the files and the seed, never on the suggestions, so every arm of a replay
runs the same sessions; what the typist types differs only where an arm's suggestion was accepted.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

TRIGGER_CHARACTERS = ".(,=:[{ "
MIN_ACCEPTED_CHARS = 3  # a shorter accepted text is not worth a Tab: counted as not accepted
EXPECTED_CHARS = 160  # of the text the typist was about to type, kept in each record (for reading misses)
REGION_LINES = 12  # lines removed from a region (the typist writes at most these)
DELETE_PROBABILITY = 0.08  # after a mid-line request: delete 1-3 typed characters, ask, retype them
REQUEST_KINDS = ("mid_line", "new_line", "first_in_file", "return_to_file", "after_jump")
AUTO_CLOSED_PAIRS = {"(": ")", "[": "]", "{": "}", '"': '"', "'": "'", "`": "`"}  # VS Code's, TS and Python
_QUOTES = "\"'`"
_COMMENT_STARTS = ("#", "//")

# VS Code's "accept next word" steps: a run of word characters or of other symbols, with the whitespace
# before it; a line break is a step of its own.
_WORD_STEP = re.compile(r"[ \t]*(?:\w+|[^\w\s]+)|[ \t]*\n|[ \t]+$")


def accepted_prefix(suggestion: str, upcoming: str) -> str:
    """What a typist who knows `upcoming` (the text they are about to type) takes of `suggestion`: all
    of it when `upcoming` starts with it (trailing whitespace of the suggestion aside), else the longest
    run of whole words from its start that `upcoming` starts with; "" when that is shorter than
    `MIN_ACCEPTED_CHARS`. Multi-line suggestions are taken line by line the same way."""
    text = suggestion.rstrip(" \t\n")
    if text and upcoming.startswith(text):
        taken = text
    else:
        taken, end = "", 0
        for step in _WORD_STEP.finditer(text):
            candidate = text[: step.end()]
            if step.start() != end or not upcoming.startswith(candidate):
                break
            taken, end = candidate, step.end()
    return taken if len(taken.strip()) >= MIN_ACCEPTED_CHARS else ""


def auto_closed(line: str) -> str:
    """What an editor has inserted right of the cursor after `line` was typed on a line of its own: the
    closers of the brackets and strings it opened and did not close, innermost first. A typed closer steps
    over the one the editor put there; inside a string or after a comment start nothing is auto-closed, and
    a quote right after a word character (`don't`) is not either."""
    pending: list[str] = []
    for index, char in enumerate(line):
        in_string = bool(pending) and pending[-1] in _QUOTES
        if pending and char == pending[-1]:
            pending.pop()
        elif in_string:
            continue
        elif line.startswith(_COMMENT_STARTS, index):
            break
        elif char in AUTO_CLOSED_PAIRS and not (char in _QUOTES and index and _is_word(line[index - 1])):
            pending.append(AUTO_CLOSED_PAIRS[char])
    return "".join(reversed(pending))


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


@dataclass(frozen=True)
class Habits:
    """How the typist and their editor behave. `auto_close`: the editor closes brackets and quotes
    (`auto_closed`). The pace: `ms_per_char` per typed character (150 ms is ~80 words a minute), and
    `switch_pause_ms` after a file becomes active (reading before typing); the idle time is slept before
    the next request or file switch, so the server has it for background work (`sleep` takes seconds)."""

    auto_close: bool = True
    ms_per_char: float = 0.0
    switch_pause_ms: float = 0.0
    sleep: Callable[[float], None] = time.sleep


AS_EDITORS_DO = Habits()  # no pace (the next request the moment an answer comes), brackets auto-closed


@dataclass(frozen=True)
class Region:
    path: str
    start: int  # first removed line (0-based)
    lines: int  # how many lines were removed


@dataclass(frozen=True)
class Visit:
    region: Region
    lines: int  # lines to write on this visit; 0 = only look at the file (the editor warms it)


@dataclass(frozen=True)
class Document:
    """What the editor holds when it asks: the whole text and the cursor (line, UTF-16 column)."""

    path: str
    text: str
    line: int
    character: int

    @property
    def line_prefix(self) -> str:
        return self.text.split("\n")[self.line][: self.character]


@dataclass
class Answer:
    """An arm's answer to one request; `requested` is False when the arm's client would not ask."""

    completion: str
    latency_ms: float
    prompt_tokens_evaluated: int = 0
    prompt_tokens: int = 0
    cache: str = "none"  # how it was answered: the arm's own words (result_cache, kv_reuse, ...)
    model_answered: bool = True  # False for answers from a result cache without the model
    requested: bool = True
    mean_logprob: float | None = None
    tier: str = ""  # the tier that answered (served arms)
    # the server's own breakdown, in its words: ours queue_ms, prompt_ms, generation_ms, tokens_generated,
    # warm_share_tokens (api.Timings); the peer's prompt_ms, predicted_ms, predicted_n (llama-server)
    timings: dict[str, float] = field(default_factory=dict)


class Arm(Protocol):
    def activate(self, document: Document) -> None: ...  # a file becomes active (the editor warms it)

    def complete(self, document: Document) -> Answer: ...


@dataclass
class Record:
    """One request of a session, as saved in the replay's raw records."""

    visit: int  # index of the visit in the session (the bootstrap's unit)
    path: str
    kind: str
    line_prefix: str
    completion: str
    accepted_chars: int
    latency_ms: float
    prompt_tokens_evaluated: int
    prompt_tokens: int
    cache: str
    model_answered: bool
    requested: bool
    mean_logprob: float | None
    tier: str = ""
    expected: str = ""  # what the typist was about to type (the rest of its region, at most EXPECTED_CHARS)
    timings: dict[str, float] = field(default_factory=dict)  # `Answer.timings` (replays since 2026-12-05)


@dataclass
class Session:
    records: list[Record] = field(default_factory=list)
    typed_chars_by_visit: dict[int, int] = field(default_factory=dict)
    accepted_chars_by_visit: dict[int, int] = field(default_factory=dict)


class Typist:
    """Writes the removed regions back into `files` through an `Arm`, following a script."""

    def __init__(
        self,
        files: dict[str, str],
        regions: list[Region],
        seed: int,
        habits: Habits = AS_EDITORS_DO,
    ):
        self.files, self.regions, self.seed, self.habits = files, regions, seed, habits
        self._idle_ms = 0.0  # time spent typing or reading since the last request
        self.written = {region: "" for region in regions}  # text of each region written so far
        # lines of closers that Enter moved below the cursor, nearest first, per region
        self.closing_lines: dict[Region, list[str]] = {region: [] for region in regions}

    # --- the editor's view ---

    def document(self, region: Region) -> Document:
        """The file with every region's unwritten part removed, the cursor after `region`'s written text
        and before what the editor auto-closed on its line (a region not being written shows only its
        complete lines)."""
        lines = self.files[region.path].split("\n")
        out: list[str] = []
        cursor = (0, 0)
        at = 0
        for other in sorted((r for r in self.regions if r.path == region.path), key=lambda r: r.start):
            out.extend(lines[at : other.start])
            written = self.written[other].split("\n")
            if other == region:
                cursor = (len(out) + len(written) - 1, _utf16_len(written[-1]))
                out.extend(written[:-1])
                closing = self.habits.auto_close and self.written[other] != self.target(other)
                out.append(written[-1] + (auto_closed(written[-1]) if closing else ""))
            elif self.written[other] == self.target(other):
                out.extend(written)
            else:
                out.extend(written[:-1])  # its unfinished last line is not there
            out.extend(self.closing_lines[other])
            at = other.start + other.lines
        out.extend(lines[at:])
        return Document(region.path, "\n".join(out), *cursor)

    def upcoming(self, region: Region) -> str:
        """What the typist will type next in `region`."""
        return self.target(region)[len(self.written[region]) :]

    def target(self, region: Region) -> str:
        lines = self.files[region.path].split("\n")
        return "\n".join(lines[region.start : region.start + region.lines])

    # --- the session ---

    def run(
        self, script: list[Visit], arm: Arm, on_record: Callable[[Record], None] | None = None
    ) -> Session:
        session = Session()
        opened: set[str] = set()
        last_path: str | None = None
        last_region: Region | None = None
        for index, visit in enumerate(script):
            region = visit.region
            if region.path != last_path:
                kind = "return_to_file" if region.path in opened else "first_in_file"
                opened.add(region.path)
                self._at_line_start(region)
                self._rest()
                arm.activate(self.document(region))
                self._idle_ms += self.habits.switch_pause_ms
            else:
                kind = "after_jump" if region != last_region else "new_line"
            last_path, last_region = region.path, region
            session.typed_chars_by_visit.setdefault(index, 0)
            session.accepted_chars_by_visit.setdefault(index, 0)
            rng = random.Random(f"{self.seed}:{index}")  # the same choices in every arm
            self._write(index, visit, kind, arm, session, rng, on_record)
        return session

    def _write(self, index, visit, kind, arm, session, rng, on_record) -> None:
        region, lines_done = visit.region, 0
        pending: str | None = kind
        while lines_done < visit.lines and self.upcoming(region):
            self._at_line_start(region)
            self._step_onto_closing_line(region)
            if not self.upcoming(region):
                break
            self._ask(index, region, pending or "new_line", arm, session, on_record)
            pending = None
            while self.upcoming(region) and not self.upcoming(region).startswith("\n"):
                char = self.upcoming(region)[0]
                self.written[region] += char
                self._typed(session, index, 1)
                if char in TRIGGER_CHARACTERS and self.upcoming(region)[:1] not in ("", "\n"):
                    self._ask(index, region, "mid_line", arm, session, on_record)
                    if rng.random() < DELETE_PROBABILITY:
                        self._delete_and_ask(index, region, rng, arm, session, on_record)
            if self.upcoming(region).startswith("\n"):
                self._enter(region)
                self._typed(session, index, 1)
            lines_done += 1
        if self.written[region] == self.target(region):
            self.closing_lines[region].clear()  # a closer the block did not need: the user deletes it

    def _enter(self, region: Region) -> None:
        """Enter; the editor indents the next line, and moves what it auto-closed on this one below it."""
        line = self.written[region].rsplit("\n", 1)[-1]
        rest = auto_closed(line) if self.habits.auto_close else ""
        if rest:
            self.closing_lines[region].insert(0, line[: _indent(line)] + rest)
        self.written[region] += "\n"

    def _step_onto_closing_line(self, region: Region) -> None:
        """At a line start (indented): when the line to write starts with the closer waiting below, the
        cursor moves onto it, after the closers the line starts with (the rest of that closer line, if the
        line to write differs, is overwritten: the document then shows the line to write)."""
        waiting = self.closing_lines[region]
        if not waiting or self.written[region].rsplit("\n", 1)[-1].strip():
            return
        line = self.upcoming(region).split("\n", 1)[0]
        closers = waiting[0].strip()
        shared = next((i for i, (a, b) in enumerate(zip(line, closers, strict=False)) if a != b), None)
        shared = min(len(line), len(closers)) if shared is None else shared
        if shared:
            waiting.pop(0)
            self.written[region] += line[:shared]

    def _closed_by(self, region: Region, accepted: str) -> None:
        """An accepted suggestion that writes lines starting with the closer waiting below has written
        that closer line: the editor's one goes (the user deletes it)."""
        waiting = self.closing_lines[region]
        for line in accepted.split("\n")[1:]:
            if waiting and line.strip()[:1] == waiting[0].strip()[:1]:
                waiting.pop(0)

    def _delete_and_ask(self, index, region, rng, arm, session, on_record) -> None:
        line = self.written[region].rsplit("\n", 1)[-1]
        deletable = len(line) - (len(line) - len(line.lstrip()))
        count = min(rng.randint(1, 3), deletable)
        if count <= 0:
            return
        self.written[region] = self.written[region][:-count]
        self._ask(index, region, "mid_line", arm, session, on_record)
        retyped = self.target(region)[len(self.written[region]) : len(self.written[region]) + count]
        self.written[region] += retyped  # what is already typed past an accepted suggestion stays
        self._typed(session, index, len(retyped))

    def _rest(self) -> None:
        """Sleep the time spent typing or reading since the last request or file switch."""
        if self._idle_ms > 0:
            self.habits.sleep(self._idle_ms / 1000)
            self._idle_ms = 0.0

    def _typed(self, session: Session, index: int, chars: int) -> None:
        session.typed_chars_by_visit[index] += chars
        self._idle_ms += chars * self.habits.ms_per_char

    def _ask(self, index, region, kind, arm, session, on_record) -> None:
        document = self.document(region)
        self._rest()
        answer = arm.complete(document)
        upcoming = self.upcoming(region)
        taken = accepted_prefix(answer.completion, upcoming) if answer.requested else ""
        self.written[region] += taken
        self._closed_by(region, taken)
        session.accepted_chars_by_visit[index] += len(taken)
        record = Record(
            index, region.path, kind, document.line_prefix, answer.completion, len(taken),
            answer.latency_ms, answer.prompt_tokens_evaluated, answer.prompt_tokens, answer.cache,
            answer.model_answered, answer.requested, answer.mean_logprob, answer.tier,
            upcoming[:EXPECTED_CHARS], answer.timings,
        )  # fmt: skip
        session.records.append(record)
        if on_record:
            on_record(record)

    def _at_line_start(self, region: Region) -> None:
        """The editor's auto-indent: at a line start the target line's indentation is there, untyped."""
        written = self.written[region]
        if written and not written.endswith("\n"):
            return
        rest = self.upcoming(region)
        line = rest.split("\n", 1)[0]
        self.written[region] += line[: len(line) - len(line.lstrip(" \t"))]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- the script ----------------------------------------------------------------------------------------

# A session in one repository: (file, region of that file, lines to write). It starts four files, returns
# to three, jumps within one, and looks at one before writing in it later.
_TEMPLATE = (
    (0, 0, 4),
    (1, 0, 4),
    (0, 0, 4),
    (0, 1, 4),
    (2, 0, 0),
    (0, 1, 4),
    (2, 0, 4),
    (1, 0, 4),
    (3, 0, 4),
    (0, 0, 4),
    (3, 0, 4),
)
FILES_PER_SESSION = 4
MIN_FILE_LINES = 60
MAX_REGION_CHARS = 700  # longer regions are data, not code someone types
# Blocks that are lists of names or types rather than code being written: import and export lists,
# type declarations.
_NOT_CODE_BLOCKS = (
    "import",
    "export {",
    "export type",
    "export *",
    "export interface",
    "from ",
    "type ",
    "interface ",
    "declare ",
)


def plan_session(
    files: dict[str, str], suffixes: tuple[str, ...], seed: int, visits: int | None = None
) -> tuple[list[Region], list[Visit]]:
    """The regions to remove and the visits that write them back, for the files whose names end with
    one of `suffixes` (e.g. (".ts", ".tsx")): `FILES_PER_SESSION` files, seeded; the first with two
    regions at least a third of the file apart; only the first `visits` visits of the template when given
    (a shorter session). Raises ValueError when the repository has too few usable files."""
    rng = random.Random(seed)
    candidates = {}
    for path in sorted(files):
        if not path.endswith(suffixes) or _is_test(path):
            continue
        starts = region_starts(files[path])
        if starts:
            candidates[path] = starts
    with_two = [p for p, s in candidates.items() if _two_apart(s, files[p]) is not None]
    if not with_two or len(candidates) < FILES_PER_SESSION:
        raise ValueError(f"too few files with regions to write ({len(candidates)} of {suffixes})")
    first = rng.choice(with_two)
    others = rng.sample(sorted(set(candidates) - {first}), FILES_PER_SESSION - 1)
    chosen = [first, *others]
    regions = [[Region(first, s, REGION_LINES) for s in _two_apart(candidates[first], files[first])]]
    regions += [[Region(path, rng.choice(candidates[path]), REGION_LINES)] for path in others]
    script = [
        Visit(regions[f][r], 0 if lines == 0 else lines + rng.randint(-1, 1)) for f, r, lines in _TEMPLATE
    ][:visits]
    assert all(v.region.path in chosen for v in script)
    return [r for group in regions for r in group], script


def region_starts(text: str) -> list[int]:
    """Lines where a block's body starts, outside docstrings and comments (the line after one ending with
    ":" or "{", indented deeper), with `REGION_LINES` lines of mostly code after it, in files of at least
    `MIN_FILE_LINES` lines."""
    lines = text.split("\n")
    if len(lines) < MIN_FILE_LINES:
        return []
    starts, quotes = [], 0
    for i in range(1, len(lines) - REGION_LINES):
        opener, first = lines[i - 1].rstrip(), lines[i]
        quotes += opener.count('"""') + opener.count("'''")
        if quotes % 2 or opener.lstrip().startswith(("#", "//", "*", "/*")):
            continue  # inside a docstring or a comment
        if opener.lstrip().startswith(_NOT_CODE_BLOCKS):
            continue
        if not opener.endswith((":", "{")) or not first.strip() or _indent(first) <= _indent(opener):
            continue
        body = lines[i : i + REGION_LINES]
        if (
            sum(bool(line.strip()) for line in body) >= REGION_LINES - 3
            and len("\n".join(body)) <= MAX_REGION_CHARS
        ) and not any(line.lstrip().startswith(("#", "//", "*", "/*", '"""')) for line in body[:2]):
            starts.append(i)
    return starts


def _two_apart(starts: list[int], text: str) -> tuple[int, int] | None:
    gap = max(REGION_LINES * 2, len(text.split("\n")) // 3)
    for a in starts:
        for b in starts:
            if b - a >= gap:
                return (a, b)
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_test(path: str) -> bool:
    """Tests, test helpers and translation tables: not what the replay's typist writes."""
    lowered = f"/{path.lower()}"
    return any(part in lowered for part in ("/tests/", "/test/", "test", ".spec.", "/locales/", "/i18n/"))
