"""The workspace index: the I/O side of context selection. It walks a project directory, reads and parses
its source files into a `Workspace`, reads tsconfig `paths` aliases, and updates one file at a time when a
file changes on disk (`refresh`, by size and modification time) or an editor sends unsaved text (`update`).

The walk is bounded, because a client names the root and a user may open their home folder (or `/`):
- it skips what editors skip: VCS and tool folders, hidden folders, `node_modules`, virtual environments
  (any folder with a `pyvenv.cfg`), `site-packages`, build output, what `.gitignore` files ignore (read with
  `pathspec`), binaries (a NUL byte), minified or generated files (a line over `MAX_LINE_CHARS`), files
  over `index_max_file_bytes`, and files that commonly hold secrets (`disabled_files`: `.env`, `*.pem`,
  `*credentials*`, `*secret*`, …; an editor's unsaved text of one is not indexed either);
- it never follows a symbolic link (so it never leaves the root) and reads only regular files;
- a pass stops at `index_max_files`, `index_max_bytes`, `index_max_memory_mb` (all workspaces together) or
  `index_max_seconds`, keeps what it indexed and reports which bound it reached;
- it waits while the model serves a completion (on 2 cores, a pass beside a completion slowed it by half).

`Workspaces` keeps the indexes of a server: at most `index_max_workspaces`, each refreshed by at most one
background thread at a time, at low CPU priority, and never more often than `REFRESH_INTERVAL_S` or ten
times the last pass's duration. A file is parsed without the workspace's lock, and the lock is held only to
insert it, so a completion reads what is indexed so far and never waits for indexing. After a pass, the
index's objects are frozen out of Python's cycle collector (`gc.freeze`): its full collections scanned the
whole index (185 ms for 20,000 files), whichever thread happened to trigger one, the completion's included.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import posixpath
import re
import stat
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from nanocomplete import syntax
from nanocomplete.config import GLOB_BACKEND, IndexConfig, disabled_files_matcher
from nanocomplete.workspace import ParsedFile, Workspace, parse_file, syntax_records

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "bower_components", "dist", "build", "out", ".venv", "venv",
     "__pycache__", "__pypackages__", "site-packages", "dist-packages", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".tox", "coverage", ".next"}
)  # fmt: skip
VENV_MARKER = "pyvenv.cfg"
MAX_LINE_CHARS = 1_000  # a longer line marks a minified or generated file: not indexed
BINARY_PROBE_BYTES = 8_192  # a NUL byte among the first ones marks a binary file
MAX_GITIGNORE_BYTES = 1_000_000
REFRESH_INTERVAL_S = 10.0
REFRESH_DUTY_FACTOR = 10  # the next pass starts no sooner than this many times the last one's duration
# The index's memory, estimated from what it holds: the text (and its lines), the BM25 postings (one per
# identifier per line window) and each file's records. Fitted to tracemalloc measurements (`nanocomplete
# bench index`, docs/index.md): ~13 bytes per byte of real Python source in all.
ESTIMATED_BYTES_PER_TEXT_CHAR = 2
ESTIMATED_BYTES_PER_POSTING = 100
ESTIMATED_BYTES_PER_FILE = 2_000
# per import and per import or error line (`workspace.syntax_records`), measured with tracemalloc on files
# of `import a,a,...` (418), TS named imports (548) and lines of `)` (275) on 2026-12-04; few in real code
# (tens a file), so the fit above holds, but a file made of them cost 36-62x its estimate without this term
ESTIMATED_BYTES_PER_SYNTAX_RECORD = 550
LOW_PRIORITY_NICE = 10
PAUSE_POLL_S = 0.01
MAX_PAUSE_S = 5.0  # a stream of completions still lets indexing go on now and then


@dataclass
class IndexStats:
    """One pass: the files in the index after it, those parsed by it (the others were unchanged), those
    skipped (too large, binary, minified or unreadable), and the bound it stopped at, if any."""

    files: int = 0
    parsed: int = 0
    skipped: int = 0
    seconds: float = 0.0  # wall-clock, the pauses included
    paused_s: float = 0.0  # waiting while completions ran (not counted against index_max_seconds)
    capped_by: str | None = None  # "files", "bytes", "memory" or "time"


@dataclass
class _Directory:
    relative: str  # "" for the root, "/"-separated
    ignores: tuple[tuple[str, pathspec.PathSpec], ...]  # (folder, its .gitignore) from the root down


@dataclass
class WorkspaceIndex:
    root: Path
    config: IndexConfig = field(default_factory=IndexConfig)
    workspace: Workspace = field(default_factory=Workspace)
    # bytes the other indexes of the same server may still take; None: only this index's own bound
    server_memory_left: object = None
    # true while the model serves a completion: the pass waits meanwhile (None: never waits)
    busy: object = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    indexed_bytes: int = 0
    passes: int = 0
    last: IndexStats | None = None
    running: bool = False
    next_pass_at: float = 0.0  # time.monotonic()
    _stamps: dict[str, tuple[int, int]] = field(default_factory=dict)  # path → (size, mtime_ns)
    _stopped: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self):
        self.workspace.name = self.workspace.name or self.root.name
        self._disabled = disabled_files_matcher(self.config.disabled_globs)

    # --- passes ---

    def refresh(self) -> IndexStats:
        """Bring the index up to date with the disk within the bounds: drop deleted files (first, so that
        they free their share of the bounds), parse new and changed ones. Safe beside readers that hold
        `lock` (each file is inserted under it)."""
        started = time.perf_counter()
        deadline = time.monotonic() + self.config.index_max_seconds
        stats = IndexStats()
        self._drop(path for path in list(self._stamps) if not os.path.lexists(self.root / path))
        seen: set[str] = set()
        for path, info in self._source_files(deadline, stats):
            seen.add(path)
            stamp = (info.st_size, info.st_mtime_ns)
            if self._stamps.get(path) == stamp:
                continue
            stats.capped_by = self._bound_reached(path, info.st_size)
            if stats.capped_by:
                break
            text = self._read(path, info.st_size)
            if text is None:
                stats.skipped += 1
                continue
            parsed = parse_file(path, text)  # the costly part, outside the lock
            if estimated_bytes(parsed) > self._memory_room_bytes():
                stats.capped_by = "memory"
                break
            with self.lock:
                self.workspace.insert(parsed)
                self.indexed_bytes += info.st_size - self._stamps.get(path, (0, 0))[0]
                self._stamps[path] = stamp
            stats.parsed += 1
        if stats.capped_by is None and not self._stopped.is_set():  # a whole walk: what it missed is gone
            self._drop(set(self._stamps) - seen)  # (or now ignored)
        ts_paths = self._ts_paths()
        with self.lock:
            self.workspace.ts_paths = ts_paths
        stats.files = len(self.workspace.files)
        stats.seconds = time.perf_counter() - started
        self.passes += 1
        self.last = stats
        return stats

    def update(self, path: str, text: str) -> None:
        """An editor's unsaved text for `path` (relative to the root) replaces what the disk holds (unless
        `disabled_files` names it)."""
        if self._disabled.matches(path):
            return
        parsed = parse_file(path, text)
        if parsed is None:
            return
        with self.lock:
            self.workspace.insert(parsed)
            disk = self._stamps.pop(path, None)  # the next refresh rereads the disk version once saved
            self.indexed_bytes -= disk[0] if disk else 0

    def stop(self) -> None:
        """End a pass in progress at its next file (the index is being dropped)."""
        self._stopped.set()

    def memory_bytes(self) -> int:
        """The estimated memory of the index (see ESTIMATED_BYTES_PER_*)."""
        return (  # the sum of estimated_bytes over the files, kept as counts
            ESTIMATED_BYTES_PER_TEXT_CHAR * self.workspace.text_chars
            + ESTIMATED_BYTES_PER_POSTING * self.workspace.bm25.postings_count
            + ESTIMATED_BYTES_PER_FILE * len(self.workspace.files)
            + ESTIMATED_BYTES_PER_SYNTAX_RECORD * self.workspace.syntax_records
        )

    def _bound_reached(self, path: str, size: int) -> str | None:
        """The files or bytes bound that adding the file `path` of `size` bytes would pass, or None (memory
        is checked once the file is parsed and its cost known)."""
        known = path in self._stamps
        if not known and len(self.workspace.files) >= self.config.index_max_files:
            return "files"
        if self.indexed_bytes + size > self.config.index_max_bytes:
            return "bytes"
        return None

    def _memory_room_bytes(self) -> int:
        memory_left = self.config.index_max_memory_mb * 2**20 - self.memory_bytes()
        if self.server_memory_left is not None:
            memory_left = min(memory_left, self.server_memory_left(self))
        return memory_left

    def _drop(self, paths) -> None:
        """Forget `paths` (files deleted from the disk, or no longer indexable)."""
        for path in paths:
            with self.lock:
                self.workspace.remove(path)
                self.indexed_bytes -= self._stamps.pop(path)[0]

    # --- the walk ---

    def _source_files(self, deadline: float, stats: IndexStats):
        """(path, stat) of each indexable regular file, breadth first, in name order; sets
        `stats.capped_by = "time"` when the deadline passes (then the walk ends)."""
        queue = deque([_Directory("", ())])
        while queue:
            directory = queue.popleft()
            entries = self._entries(directory)
            if entries is None:
                continue
            names = {entry.name for entry in entries}
            if directory.relative and VENV_MARKER in names:
                continue  # a virtual environment
            ignores = directory.ignores
            if ".gitignore" in names:
                spec = self._gitignore(directory.relative)
                if spec is not None:
                    ignores = (*ignores, (directory.relative, spec))
            for entry in entries:
                paused_s = self._pause_for_completions()
                deadline += paused_s
                stats.paused_s += paused_s
                if self._stopped.is_set() or time.monotonic() > deadline:
                    if not self._stopped.is_set():
                        stats.capped_by = "time"
                    return
                relative = f"{directory.relative}/{entry.name}" if directory.relative else entry.name
                try:
                    info = entry.stat(follow_symlinks=False)  # a link is never followed
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    folder = relative + "/"
                    skipped = _skipped_folder(entry.name) or self._disabled.matches(folder)
                    if not skipped and not _ignored(ignores, folder):
                        queue.append(_Directory(relative, ignores))
                elif stat.S_ISREG(info.st_mode) and syntax.language_of(entry.name) is not None:
                    if _ignored(ignores, relative) or self._disabled.matches(relative):
                        continue
                    if info.st_size > self.config.index_max_file_bytes:
                        stats.skipped += 1
                        continue
                    yield relative, info

    def _pause_for_completions(self) -> float:
        """Wait while the model serves a completion (indexing takes CPU and the GIL from it); the
        seconds waited, which do not count against the pass's time bound."""
        if self.busy is None or not self.busy():
            return 0.0
        started = time.monotonic()
        while self.busy() and not self._stopped.is_set() and time.monotonic() - started < MAX_PAUSE_S:
            time.sleep(PAUSE_POLL_S)
        return time.monotonic() - started

    def _entries(self, directory: _Directory) -> list[os.DirEntry] | None:
        try:
            with os.scandir(self.root / directory.relative if directory.relative else self.root) as found:
                return sorted(found, key=lambda entry: entry.name)
        except OSError:
            return None

    def _gitignore(self, relative: str) -> pathspec.PathSpec | None:
        path = self.root / relative / ".gitignore"
        try:
            data = _read_regular_file(path, MAX_GITIGNORE_BYTES)
            if data is None:
                return None
            lines = data.decode("utf-8").splitlines()
            return pathspec.GitIgnoreSpec.from_lines(lines, backend=GLOB_BACKEND)
        except (OSError, UnicodeDecodeError, ValueError):
            return None

    def _read(self, path: str, size: int) -> str | None:
        """The file's text; None for a binary, undecodable, minified or generated file (or one that grew
        past the bound since it was listed)."""
        try:
            data = _read_regular_file(self.root / path, self.config.index_max_file_bytes)
        except OSError:
            return None
        if data is None or b"\0" in data[:BINARY_PROBE_BYTES]:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if any(len(line) > MAX_LINE_CHARS for line in text.split("\n")):
            return None  # minified or generated
        return text

    def _ts_paths(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """`compilerOptions.paths` of the root tsconfig.json, targets made relative to the root."""
        config_path = self.root / "tsconfig.json"
        try:
            data = _read_regular_file(config_path, self.config.index_max_file_bytes)
            if data is None:
                return ()
            options = _read_jsonc(data.decode("utf-8")).get("compilerOptions", {})
            base = options.get("baseUrl", ".")
            return tuple(
                (pattern, tuple(posixpath.normpath(posixpath.join(base, target)) for target in targets))
                for pattern, targets in options.get("paths", {}).items()
            )
        except (OSError, ValueError, AttributeError, TypeError):
            return ()


def estimated_bytes(parsed: ParsedFile) -> int:
    """The memory a parsed file will take in the index (see ESTIMATED_BYTES_PER_*)."""
    postings = sum(len(counts) for _, _, counts in parsed.windows)
    return (
        ESTIMATED_BYTES_PER_TEXT_CHAR * len(parsed.source.text)
        + ESTIMATED_BYTES_PER_POSTING * postings
        + ESTIMATED_BYTES_PER_FILE
        + ESTIMATED_BYTES_PER_SYNTAX_RECORD * syntax_records(parsed.source.syntax)
    )


def _skipped_folder(name: str) -> bool:
    return name in SKIP_DIRS or name.startswith(".")


def _ignored(ignores: tuple[tuple[str, pathspec.PathSpec], ...], relative: str) -> bool:
    """Whether a .gitignore between the root and `relative` ignores it (folders end with "/")."""
    for folder, spec in ignores:
        inside = relative[len(folder) + 1 :] if folder else relative
        if spec.match_file(inside):
            return True
    return False


def _read_jsonc(text: str) -> dict:
    """JSON with comments and trailing commas, as tsconfig files allow. An unclosed string or comment runs
    to the end of the text, so each is matched once (a lazy match of `/*` to the next `*/` rescans to the
    end at every unclosed `/*`: 48 KB took 3.2 s). ValueError for what is not JSON, deep nesting too."""
    text = re.sub(
        r'"(?:\\.|[^"\\])*(?:"|\Z)|//[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/|\Z)',
        lambda m: m.group(0) if m.group(0)[0] == '"' else "",
        text,
        flags=re.S,
    )
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    try:
        return json.loads(text)
    except RecursionError:  # thousands of nested brackets
        raise ValueError("too deeply nested") from None


class Workspaces:
    """The workspace indexes of a server, by root: at most `index_max_workspaces` (the least recently used
    is dropped), each refreshed in the background by at most one thread at a time."""

    def __init__(self, config: IndexConfig = IndexConfig(), busy=None) -> None:
        """`busy()`: true while the model serves a completion; passes wait meanwhile."""
        self.config = config
        self.busy = busy
        self._indexes: OrderedDict[str, WorkspaceIndex] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, root: str) -> WorkspaceIndex | None:
        """The index of `root` as it is now (empty or partial while the first pass runs); starts a pass
        in the background when one is due. None when `root` is not an absolute path to a folder."""
        with self._guard:
            index = self._indexes.pop(root, None)
            if index is None:
                if not os.path.isabs(root) or not os.path.isdir(root):
                    return None
                index = WorkspaceIndex(
                    Path(root), self.config, server_memory_left=self._memory_left_bytes, busy=self.busy
                )
            self._indexes[root] = index
            while len(self._indexes) > self.config.index_max_workspaces:
                self._indexes.popitem(last=False)[1].stop()
            due = not index.running and time.monotonic() >= index.next_pass_at
            index.running = index.running or due
        if due:
            threading.Thread(target=self._pass, args=(index,), daemon=True, name="nanocomplete-index").start()
        return index

    def all(self) -> list[WorkspaceIndex]:
        with self._guard:
            return list(self._indexes.values())

    def _memory_left_bytes(self, index: WorkspaceIndex) -> int:
        others = sum(other.memory_bytes() for other in self.all() if other is not index)
        return self.config.index_max_memory_mb * 2**20 - index.memory_bytes() - others

    @staticmethod
    def _pass(index: WorkspaceIndex) -> None:
        _lower_thread_priority()
        try:
            stats = index.refresh()
            if stats.parsed:
                gc.freeze()  # the index's objects leave the cycle collector's full scans (see below)
            pause_s = max(REFRESH_INTERVAL_S, REFRESH_DUTY_FACTOR * stats.seconds)
        except Exception:  # an unreadable tree must not end the server; try again later
            pause_s = REFRESH_INTERVAL_S * REFRESH_DUTY_FACTOR
        index.next_pass_at = time.monotonic() + pause_s
        index.running = False


def _lower_thread_priority() -> None:
    """Run this thread at a lower CPU priority than the model's (Linux gives each thread its own nice
    value; elsewhere this is a no-op, and the duty factor alone keeps indexing in the background)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY_NICE)


def _read_regular_file(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of `path` if it is a regular file of at most `max_bytes` when read, else None. Opened
    without blocking and checked on the open descriptor: a FIFO swapped in after the walk listed a file used
    to block the index's thread for ever in `open`. Raises OSError as `open` does."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        data = file.read(max_bytes + 1)
    return data if len(data) <= max_bytes else None
