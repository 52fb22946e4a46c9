"""The workspace index: the I/O side of context selection. It walks a project directory, reads and parses
its source files into a `Workspace`, reads tsconfig `paths` aliases, and updates one file at a time when a
file changes on disk (`refresh`, by size and modification time) or an editor sends unsaved text (`update`).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from nanocomplete import syntax
from nanocomplete.workspace import Workspace

SKIP_DIRS = frozenset(
    {".git", ".hg", "node_modules", "dist", "build", "out", ".venv", "venv", "__pycache__", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".tox", "coverage", ".next"}
)  # fmt: skip
MAX_FILE_BYTES = 200_000
MAX_LINE_CHARS = 1_000


@dataclass
class IndexStats:
    files: int = 0
    parsed: int = 0  # parsed by the last scan (the others were unchanged)
    skipped: int = 0  # too large, generated or unreadable
    seconds: float = 0.0


@dataclass
class WorkspaceIndex:
    root: Path
    workspace: Workspace = field(default_factory=Workspace)
    _stamps: dict[str, tuple[int, int]] = field(default_factory=dict)  # path → (size, mtime_ns)

    def __post_init__(self):
        self.workspace.name = self.workspace.name or self.root.name

    def refresh(self) -> IndexStats:
        """Bring the index up to date with the disk: parse new and changed files, drop deleted ones."""
        started = time.perf_counter()
        stats = IndexStats()
        seen = set()
        for path, stat in self._source_files():
            seen.add(path)
            stamp = (stat.st_size, stat.st_mtime_ns)
            if self._stamps.get(path) == stamp:
                continue
            text = self._read(path, stat.st_size)
            if text is None:
                stats.skipped += 1
                continue
            self.workspace.add(path, text)
            self._stamps[path] = stamp
            stats.parsed += 1
        for path in set(self._stamps) - seen:
            self.workspace.remove(path)
            del self._stamps[path]
        self.workspace.ts_paths = self._ts_paths()
        stats.files = len(self.workspace.files)
        stats.seconds = time.perf_counter() - started
        return stats

    def update(self, path: str, text: str) -> None:
        """An editor's unsaved text for `path` (relative to the root) replaces what the disk holds."""
        self.workspace.add(path, text)
        self._stamps.pop(path, None)  # the next refresh rereads the disk version once it is saved

    def _source_files(self):
        for directory, subdirs, names in os.walk(self.root):
            subdirs[:] = sorted(d for d in subdirs if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(names):
                if syntax.language_of(name) is None:
                    continue
                full = os.path.join(directory, name)
                try:
                    stat = os.stat(full)
                except OSError:
                    continue
                yield Path(full).relative_to(self.root).as_posix(), stat

    def _read(self, path: str, size: int) -> str | None:
        if size > MAX_FILE_BYTES:
            return None
        try:
            text = (self.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if any(len(line) > MAX_LINE_CHARS for line in text.split("\n")):
            return None  # minified or generated
        return text

    def _ts_paths(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """`compilerOptions.paths` of the root tsconfig.json, targets made relative to the root."""
        config_path = self.root / "tsconfig.json"
        if not config_path.is_file():
            return ()
        try:
            options = _read_jsonc(config_path.read_text(encoding="utf-8")).get("compilerOptions", {})
        except (OSError, ValueError):
            return ()
        base = options.get("baseUrl", ".")
        return tuple(
            (pattern, tuple(posixpath.normpath(posixpath.join(base, target)) for target in targets))
            for pattern, targets in options.get("paths", {}).items()
        )


def _read_jsonc(text: str) -> dict:
    """JSON with comments and trailing commas, as tsconfig files allow."""
    text = re.sub(
        r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/',
        lambda m: m.group(0) if m.group(0)[0] == '"' else "",
        text,
        flags=re.S,
    )
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.loads(text)
