"""The workspace as data (pure: no I/O): its source files, their syntax, import resolution between them and
a BM25 index over line windows for similar-code retrieval. `index.py` fills it from the disk and from editor
buffers; `context.py` reads it.

Import resolution:
- Python: absolute (`pkg.mod`) and relative (`from ..x import y`) imports; modules are named from their
  topmost enclosing package (a `src/` layout works); `from pkg import sub` finds submodule files;
  re-exports through `__init__.py` are followed.
- TypeScript / JavaScript: relative specifiers with `.ts/.tsx/.js/.jsx` and `index.*` resolution (a `.js`
  specifier also finds the `.ts` file), `paths` aliases from a tsconfig (`"@/*": ["src/*"]`), re-exports
  (`export {a} from`, `export * from`) followed through `index.ts`.

BM25 is written out here (about sixty lines, scored with numpy) rather than taken from a library because the
index must be updated one file at a time as the user edits; the libraries we looked at rebuild the whole
index.
"""

from __future__ import annotations

import functools
import math
import posixpath
import re
import sys
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field

import numpy as np

from nanocomplete import syntax
from nanocomplete.syntax import Definition, FileSyntax, Import

WINDOW_LINES = 10
WINDOW_STRIDE = 5
DOCUMENT_TREES = 8  # documents whose last tree is kept for incremental reparsing, at most
# ... and at most this much of their source in all (the newest always kept): a tree costs ~30 bytes of memory
# per byte of source (a 1.9 MB Python file's: ~60 MB, tracemalloc), so eight huge files would hold ~0.5 GB
DOCUMENT_TREES_SOURCE_BYTES = 4_000_000
TS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mts", ".mjs")
IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
KEYWORDS = frozenset(
    "and as assert async await break case catch class const continue def del elif else except export extends "
    "false finally for from function if import in instanceof interface is lambda let new none not null or "
    "pass private protected public raise readonly return self static super switch this throw true try type "
    "typeof undefined var void while with yield".split()
)


def code_tokens(text: str) -> list[str]:
    """Identifiers of `text` that carry meaning for retrieval (keywords dropped)."""
    return [t for t in IDENTIFIER.findall(text) if t.lower() not in KEYWORDS]


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the workspace root, "/"-separated
    text: str
    syntax: FileSyntax

    @functools.cached_property
    def lines(self) -> list[str]:
        """The text's lines, split once (selection reads them for every snippet; do not modify)."""
        return self.text.split("\n")


@dataclass(frozen=True)
class Window:
    path: str
    start_line: int
    end_line: int  # exclusive
    length: int  # tokens
    tokens: tuple[str, ...]  # distinct; a tuple costs a quarter of a frozenset's memory


@dataclass
class Bm25:
    """Okapi BM25 over line windows, updatable one file at a time. At query time only the
    `max_query_tokens` rarest query tokens count, and tokens found in more than `max_document_share` of
    the windows (and at least `min_common_windows`) are skipped: they carry little information and cost the
    most to score."""

    k1: float = 1.2
    b: float = 0.75
    max_document_share: float = 0.03
    max_query_tokens: int = 12
    min_common_windows: int = 5  # in a small workspace every token is in 3% of the windows
    windows: dict[int, Window] = field(default_factory=dict)
    postings: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    by_file: dict[str, list[int]] = field(default_factory=dict)
    total_length: int = 0
    postings_count: int = 0  # (token, window) pairs: what the index's memory grows with
    next_id: int = 0
    _arrays: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)
    _lengths: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def add_file(self, path: str, lines: list[str]) -> None:
        self.add_windows(path, windows_of(lines))

    def add_windows(self, path: str, windows: list[tuple[int, int, Counter]]) -> None:
        """Index a file's windows, as `windows_of` counted them (apart, so that the counting can happen
        outside a lock)."""
        self.remove_file(path)
        ids = []
        for start, end, counts in windows:
            window_id, self.next_id = self.next_id, self.next_id + 1
            length = sum(counts.values())
            self.windows[window_id] = Window(path, start, end, length, tuple(counts))
            self.postings_count += len(counts)
            self._set_length(window_id, length)
            self.total_length += length
            for token, count in counts.items():
                self.postings[token][window_id] = count
                self._arrays.pop(token, None)
            ids.append(window_id)
        self.by_file[path] = ids

    def remove_file(self, path: str) -> None:
        for window_id in self.by_file.pop(path, []):
            window = self.windows.pop(window_id)
            self.total_length -= window.length
            self.postings_count -= len(window.tokens)
            for token in window.tokens:
                posting = self.postings[token]
                posting.pop(window_id, None)
                self._arrays.pop(token, None)
                if not posting:
                    del self.postings[token]

    def search(
        self, query: list[str], limit: int, exclude_path: str | None = None
    ) -> list[tuple[float, Window]]:
        """The `limit` best windows, best first; ties by path and line, so that the answer depends on what
        the workspace holds, not on the order files were (re)indexed in (the server re-indexes a document
        as it is edited; training builds the same prompts on a fresh workspace)."""
        if not self.windows or limit <= 0:
            return []
        total = len(self.windows)
        average = self.total_length / total
        common = max(self.min_common_windows, self.max_document_share * total)
        rare = sorted(  # ties by token, so that every process picks the same ones
            (len(self.postings[t]), t)
            for t in set(query)
            if t in self.postings and len(self.postings[t]) <= common
        )
        if not rare:
            return []
        lengths = self._lengths
        ids, gains = [], []
        for _, token in rare[: self.max_query_tokens]:
            window_ids, counts = self._posting_arrays(token)
            idf = math.log(1 + (total - len(window_ids) + 0.5) / (len(window_ids) + 0.5))
            norm = self.k1 * (1 - self.b + self.b * lengths[window_ids] / average)
            ids.append(window_ids)
            gains.append(idf * counts * (self.k1 + 1) / (counts + norm))
        scores = np.bincount(np.concatenate(ids), weights=np.concatenate(gains))
        if exclude_path in self.by_file:
            own = [i for i in self.by_file[exclude_path] if i < len(scores)]
            scores[own] = 0.0
        hits = np.flatnonzero(scores)  # every gain is positive (idf > 0), so a hit scores above 0
        candidates = [(float(scores[i]), self.windows[int(i)]) for i in _top(hits, scores[hits], limit)]
        candidates.sort(key=lambda hit: (-hit[0], hit[1].path, hit[1].start_line))
        return candidates[:limit]

    def _posting_arrays(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """A token's posting as (window ids, counts) arrays, built on first use after each change."""
        arrays = self._arrays.get(token)
        if arrays is None:
            posting = self.postings[token]
            window_ids = np.fromiter(posting.keys(), dtype=np.int64, count=len(posting))
            counts = np.fromiter(posting.values(), dtype=np.float64, count=len(posting))
            arrays = self._arrays[token] = (window_ids, counts)
        return arrays

    def _set_length(self, window_id: int, length: int) -> None:
        """Window lengths by id, for vectorized scoring (ids are never reused; a removed window is in no
        posting, so its stale length is never read)."""
        if window_id >= len(self._lengths):
            grown = np.zeros(max(1024, 2 * len(self._lengths)), dtype=np.float64)
            grown[: len(self._lengths)] = self._lengths
            self._lengths = grown
        self._lengths[window_id] = length


def windows_of(lines: list[str]) -> list[tuple[int, int, Counter]]:
    """A file's overlapping line windows as (start line, end line exclusive, identifier counts); windows
    without identifiers are left out."""
    windows = []
    for start in range(0, max(1, len(lines) - WINDOW_LINES + WINDOW_STRIDE), WINDOW_STRIDE):
        # interned: every window that has a name shares one string for it (a third of the memory otherwise)
        counts = Counter(map(sys.intern, code_tokens("\n".join(lines[start : start + WINDOW_LINES]))))
        if counts:
            windows.append((start, min(len(lines), start + WINDOW_LINES), counts))
    return windows


def _top(ids: np.ndarray, scores: np.ndarray, limit: int) -> np.ndarray:
    """The ids of the `limit` highest scores and of every score tied with the last of them (the caller
    breaks the ties)."""
    if len(ids) > limit:
        threshold = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        ids = ids[scores >= threshold]
    return ids


@dataclass(frozen=True)
class ParsedFile:
    """A file parsed and counted, ready for `Workspace.insert`."""

    source: SourceFile
    windows: list[tuple[int, int, Counter]]


def syntax_records(found: syntax.FileSyntax) -> int:
    """The records of a file's syntax that grow with what the file repeats rather than with its text: one
    per imported name and per import or error line (`import a,a,a,...` or lines of `)` made the index's
    memory 36-62x its estimate of text and postings)."""
    return len(found.imports) + len(found.import_lines) + len(found.error_lines)


def parse_file(path: str, text: str) -> ParsedFile | None:
    """Parse `text` and count its windows; None for a language we do not parse. The costly part of adding
    a file, kept apart so that it runs without holding the workspace's lock."""
    language = syntax.language_of(path)
    if language is None:
        return None
    source = SourceFile(path, text, syntax.parse(text, language))
    return ParsedFile(source, windows_of(source.lines))


@dataclass
class Workspace:
    files: dict[str, SourceFile] = field(default_factory=dict)
    ts_paths: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ("@/*", ("src/*",)), paths from the root
    # the root folder's name: when the root is itself a package (an `__init__.py` at the top, a package
    # folder opened in the editor), its modules are importable as `name.module` too
    name: str = ""
    bm25: Bm25 = field(default_factory=Bm25)
    text_chars: int = 0  # of all files' text
    syntax_records: int = 0  # of all files: imports, import lines and error lines (`syntax_records`)
    _python_modules: dict[str, str] | None = None
    _documents: OrderedDict[str, syntax.ParsedText] = field(
        default_factory=OrderedDict, repr=False, compare=False
    )

    # --- content ---

    def add(self, path: str, text: str) -> SourceFile | None:
        """Parse and index one file; returns None for a language we do not parse."""
        parsed = parse_file(path, text)
        if parsed is not None:
            self.insert(parsed)
        return parsed.source if parsed is not None else None

    def insert(self, parsed: ParsedFile) -> None:
        """Add a file parsed by `parse_file` (the cheap part: the parsing happened before)."""
        path = parsed.source.path
        self.remove(path)
        self.files[path] = parsed.source
        self.bm25.add_windows(path, parsed.windows)
        self.text_chars += len(parsed.source.text)
        self.syntax_records += syntax_records(parsed.source.syntax)
        if path.endswith(".py"):
            self._python_modules = None

    def remove(self, path: str) -> None:
        removed = self.files.pop(path, None)
        if removed is not None:
            self.text_chars -= len(removed.text)
            self.syntax_records -= syntax_records(removed.syntax)
            self.bm25.remove_file(path)
            self._python_modules = None

    def document_imports(self, path: str, text: str) -> tuple[tuple[Import, ...], frozenset[int]]:
        """Imports and import lines of the editor's version of `path`: the index's when the text is the
        indexed one, else parsed incrementally from this document's previous version (a keystroke in a
        large file reparses only what changed)."""
        indexed = self.files.get(path)
        if indexed is not None and indexed.text == text:
            return indexed.syntax.imports, indexed.syntax.import_lines
        language = syntax.language_of(path)
        if language is None:
            return (), frozenset()
        found = syntax.document_imports(text, language, self._documents.pop(path, None))
        if found is None:  # a minified document: not parsed
            return (), frozenset()
        if found.parsed is None:  # its parse passed the deadline: the next keystroke starts afresh
            return found.imports, found.import_lines
        self._documents[path] = found.parsed
        while len(self._documents) > 1 and (
            len(self._documents) > DOCUMENT_TREES
            or sum(len(parsed.source) for parsed in self._documents.values()) > DOCUMENT_TREES_SOURCE_BYTES
        ):
            self._documents.popitem(last=False)
        return found.imports, found.import_lines

    # --- import resolution ---

    def resolve(self, importer: str, imp: Import) -> str | None:
        """The workspace file an import refers to, or None (a third-party or missing module)."""
        if importer.endswith(".py"):
            return self._resolve_python(importer, imp)
        return self._resolve_script(importer, imp.module)

    def definition(self, path: str, name: str, depth: int = 3) -> tuple[str, Definition] | None:
        """The top-level definition of `name` in `path`, following re-exports and imports there."""
        source = self.files.get(path)
        if source is None:
            return None
        for definition in source.syntax.definitions:
            if definition.name == name and definition.parent is None:
                return path, definition
        if depth == 0:
            return None
        for imp in source.syntax.imports:
            if imp.alias == name or imp.name == "*" or (imp.reexport and imp.name == name):
                target = self.resolve(path, imp)
                if target is not None and target != path:
                    found = self.definition(
                        target, imp.name if imp.name not in (None, "*") else name, depth - 1
                    )
                    if found is not None:
                        return found
        return None

    def _resolve_python(self, importer: str, imp: Import) -> str | None:
        if imp.level:
            base = posixpath.dirname(importer)
            for _ in range(imp.level - 1):
                base = posixpath.dirname(base)
            stem = posixpath.join(base, *imp.module.split(".")) if imp.module else base
            candidates = [stem + ".py", posixpath.join(stem, "__init__.py")]
            if imp.name not in (None, "*"):
                candidates.insert(0, posixpath.join(stem, imp.name) + ".py")
            return next((c for c in candidates if c in self.files), None)
        modules = self.python_modules()
        if imp.name not in (None, "*") and f"{imp.module}.{imp.name}" in modules:
            return modules[f"{imp.module}.{imp.name}"]
        return modules.get(imp.module)

    def python_modules(self) -> dict[str, str]:
        """Dotted module name → file, named from the topmost enclosing package."""
        if self._python_modules is None:
            packages = {posixpath.dirname(p) for p in self.files if p.endswith("/__init__.py")}
            package = f"{self.name}." if self.name and "__init__.py" in self.files else ""
            modules = {}
            for path in self.files:
                if path.endswith(".py"):
                    module = _python_module_name(path, packages)
                    modules[module] = path
                    if package:
                        modules[(package + module).rstrip(".")] = path
            self._python_modules = modules
        return self._python_modules

    def _resolve_script(self, importer: str, specifier: str) -> str | None:
        if specifier.startswith("."):
            return self._script_file(
                posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
            )
        for pattern, targets in self.ts_paths:
            head, _, tail = pattern.partition("*")
            if specifier.startswith(head) and specifier.endswith(tail):
                middle = specifier[len(head) : len(specifier) - len(tail)] if "*" in pattern else ""
                for target in targets:
                    found = self._script_file(posixpath.normpath(target.replace("*", middle)))
                    if found:
                        return found
        return None

    def _script_file(self, stem: str) -> str | None:
        stems = [stem]
        if stem.endswith((".js", ".jsx", ".mjs")):
            stems.insert(0, stem.rsplit(".", 1)[0])
        for base in stems:
            if base in self.files:
                return base
            for candidate in [base + ext for ext in TS_EXTENSIONS] + [
                f"{base}/index{ext}" for ext in TS_EXTENSIONS
            ]:
                if candidate in self.files:
                    return candidate
        return None


def _python_module_name(path: str, packages: set[str]) -> str:
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    directory = posixpath.dirname(path)
    start = len(directory.split("/")) if directory else 0
    while start > 0 and "/".join(path.split("/")[:start]) in packages:
        start -= 1
    return ".".join(parts[start:])  # "" for an `__init__.py` at the root (the workspace is a package)
