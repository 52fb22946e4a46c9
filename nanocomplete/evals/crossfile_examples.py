"""Candidate examples of the cross-file next-line benchmark, from one package's files (pure: no I/O).

Per package: keep the files worth predicting in (drop generated, unparseable and near-duplicate files),
resolve each file's imports to other files of the package, then sort every eligible target line into a
RepoBench setting:
- cross_file_first: the first use of a name bound by an import from another file of the package;
- cross_file_random: a later line that uses such a name (and is no name's first use);
- in_file: a line that uses none.
A name counts as cross-file when its import resolves to another file of the package (`corpus.imports`,
which the training-data builder shares).

"Unparseable" means tree-sitter errors touch more than MAX_ERROR_LINE_SHARE of the lines: the TypeScript
grammar lags the language (it rejects `in`/`out` variance annotations, which zod's core schemas use on a
handful of lines), so a few error lines only take those lines out of the targets. Dropped files still
count when resolving imports: a name imported from one is still a cross-file name.

The oracle context (what RepoBench gives) is the signature-level snippet of each imported definition: the
definitions the target line uses first, then the file's other imports, followed through re-exports in
`__init__.py`/`index.ts`. A cross-file example needs at least one snippet for a name its line uses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from nanocomplete import syntax
from nanocomplete.corpus.files import SourceFile
from nanocomplete.corpus.imports import PackageImports, Target, cross_file_uses
from nanocomplete.corpus.sources import Package

SETTINGS = ("cross_file_first", "cross_file_random", "in_file")
MIN_TARGET_CHARS = 8  # non-space characters
MIN_CODE_LINES_BEFORE = 3
MAX_PREFIX_LINES = 300
MAX_SUFFIX_LINES = 60
MAX_SNIPPET_LINES = 15
MAX_SNIPPETS = 8
MAX_REEXPORT_HOPS = 4
COMMENT_STARTS = ("#", "//", "/*", "*")


@dataclass(frozen=True)
class Snippet:
    path: str  # inside the package
    text: str


@dataclass(frozen=True)
class Example:
    """One benchmark item; `to_json` gives the JSONL object, field for field."""

    id: str  # "<language>/<package>/<path>:<line>"
    language: str  # python | typescript
    dialect: str  # python | ts | tsx
    package: str
    version: str
    path: str
    line: int  # 0-based target line
    setting: str  # one of SETTINGS
    prefix: str  # file start (at most MAX_PREFIX_LINES lines back) up to the cursor, after the indentation
    suffix: str  # from the target line's newline on, at most MAX_SUFFIX_LINES lines
    target: str  # the target line without its indentation and trailing whitespace
    cross_file_names: tuple[str, ...]
    contexts: dict[str, tuple[Snippet, ...]] = field(hash=False)  # "none", "oracle_import"
    prefix_lines: int  # lines before the target in the whole file

    def to_json(self) -> dict:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["cross_file_names"] = list(self.cross_file_names)
        data["contexts"] = {
            k: [{"path": s.path, "text": s.text} for s in v] for k, v in self.contexts.items()
        }
        return data

    @classmethod
    def from_json(cls, data: dict) -> Example:
        contexts = {k: tuple(Snippet(**s) for s in v) for k, v in data["contexts"].items()}
        return cls(**{**data, "cross_file_names": tuple(data["cross_file_names"]), "contexts": contexts})


@dataclass(frozen=True)
class Candidate:
    """A target line before sampling (an Example is made only for the chosen ones)."""

    language: str
    setting: str
    package: str
    path: str
    line: int
    names: tuple[str, ...]  # cross-file names the line uses, in line order


# --- one package: definitions, candidates and examples --------------------------------------------------


class PackageIndex(PackageImports):
    """One package's files and where their imports point (`PackageImports`); finds candidates and makes
    examples. Definition lookups and each file's import snippets are memoized."""

    def __init__(self, package: Package, files: list[SourceFile]):
        super().__init__(files)
        self.package = package
        self._found: dict[Target, tuple[str, syntax.Definition] | None] = {}
        self._import_snippets: dict[str, list[Snippet]] = {}

    def definition(self, target: Target, hops: int = 0) -> tuple[str, syntax.Definition] | None:
        """The definition a target names, followed through re-exports (memoized)."""
        if target not in self._found:
            self._found[target] = None  # guards against import cycles
            self._found[target] = self._lookup(target, hops)
        return self._found[target]

    def _lookup(self, target: Target, hops: int) -> tuple[str, syntax.Definition] | None:
        path, name = target
        file = self.files.get(path)
        if file is None or name is None or hops > MAX_REEXPORT_HOPS:
            return None
        for definition in file.facts.definitions:
            if definition.parent is None and _defines(definition, name):
                return path, definition
        for imp in file.facts.imports:
            if imp.alias == name or imp.name == "*":
                inner = self.resolve(file, imp if imp.name != "*" else _named(imp, name))
                if inner is not None and inner[1] is not None and inner[0] != path:
                    found = self.definition(inner, hops + 1)
                    if found is not None:
                        return found
        return None

    def snippets(self, file: SourceFile, alias: str, target: Target, line_text: str | None) -> list[Snippet]:
        """Snippets for one cross-file name: its definition; for a module, the attributes that
        `line_text` reads from it (`sessions.Session` → `Session` in sessions.py)."""
        path, name = target
        if name is None:
            attributes = re.findall(rf"(?<![\w$.]){re.escape(alias)}\.([A-Za-z_$][\w$]*)", line_text or "")
            targets = [(path, attribute) for attribute in dict.fromkeys(attributes)]
        else:
            targets = [target]
        found = [self.definition(t) for t in targets]
        return [_snippet(self.files[p], d) for p, d in filter(None, found) if p != file.path]

    # --- candidates and examples ------------------------------------------------------------------------

    def candidates(self) -> list[Candidate]:
        """Every target line of the kept files that import from another file, in path and line order."""
        return [c for file in self.files.values() if not file.dropped for c in self._file_candidates(file)]

    def _file_candidates(self, file: SourceFile) -> list[Candidate]:
        cross = self.cross_file_names(file)
        if not cross:
            return []
        used_on, first_use = cross_file_uses(file, cross)
        language = "python" if file.language == "python" else "typescript"
        found = []
        for row in _target_rows(file):
            names = _in_line_order(file.lines[row], used_on.get(row, []))
            if names and not self._primary_snippets(file, row, names, cross):
                continue  # a cross-file line whose definitions cannot be shown
            if not names:
                setting = "in_file"
            elif any(first_use[alias] == row for alias in names):
                setting = "cross_file_first"
            else:
                setting = "cross_file_random"
            found.append(Candidate(language, setting, self.package.name, file.path, row, tuple(names)))
        return found

    def example(self, candidate: Candidate) -> Example:
        file = self.files[candidate.path]
        cross = self.cross_file_names(file)
        primary = self._primary_snippets(file, candidate.line, candidate.names, cross)
        oracle = tuple(dict.fromkeys(primary + self._all_import_snippets(file, cross)))[:MAX_SNIPPETS]
        return _make_example(self.package, file, candidate, oracle)

    def _primary_snippets(
        self, file: SourceFile, row: int, names: Sequence[str], cross: dict[str, Target]
    ) -> list[Snippet]:
        return [s for alias in names for s in self.snippets(file, alias, cross[alias], file.lines[row])]

    def _all_import_snippets(self, file: SourceFile, cross: dict[str, Target]) -> list[Snippet]:
        if file.path not in self._import_snippets:
            found = [s for alias, target in cross.items() for s in self.snippets(file, alias, target, None)]
            self._import_snippets[file.path] = found
        return self._import_snippets[file.path]


def _defines(definition: syntax.Definition, name: str) -> bool:
    if name == "default":
        return definition.signature.startswith("export default")
    return definition.name == name


def _named(star: syntax.Import, name: str) -> syntax.Import:
    """A star import (or `export *`) read as importing `name`."""
    return syntax.Import(star.module, name, name, star.line, star.level, star.reexport)


def _snippet(file: SourceFile, definition: syntax.Definition) -> Snippet:
    end = min(definition.end_line, definition.start_line + MAX_SNIPPET_LINES - 1)
    return Snippet(file.path, "\n".join(file.lines[definition.start_line : end + 1]))


def _target_rows(file: SourceFile) -> list[int]:
    """Lines worth predicting: code (not blank, comment, docstring or import) with enough characters, after
    at least MIN_CODE_LINES_BEFORE code lines."""
    noncode = syntax.noncode_lines(file.text, file.language)
    rows, code_before = [], 0
    for row, line in enumerate(file.lines):
        stripped = line.strip()
        is_code = bool(stripped) and row not in noncode and not stripped.startswith(COMMENT_STARTS)
        if (
            is_code
            and code_before >= MIN_CODE_LINES_BEFORE
            and row not in file.facts.import_lines
            and row not in file.facts.error_lines
            and len("".join(stripped.split())) >= MIN_TARGET_CHARS
        ):
            rows.append(row)
        code_before += is_code
    return rows


def _in_line_order(line: str, names: list[str]) -> list[str]:
    def position(name: str) -> int:
        found = re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", line)
        return found.start() if found else len(line)

    return sorted(names, key=position)


def _make_example(
    package: Package, file: SourceFile, candidate: Candidate, oracle: tuple[Snippet, ...]
) -> Example:
    lines, row = file.lines, candidate.line
    line = lines[row]
    indent = line[: len(line) - len(line.lstrip())]
    start = max(0, row - MAX_PREFIX_LINES)
    after = lines[row + 1 : row + 1 + MAX_SUFFIX_LINES]
    return Example(
        id=f"{candidate.language}/{package.name}/{file.path}:{row}",
        language=candidate.language,
        dialect={"python": "python", "tsx": "tsx"}.get(file.language, "ts"),
        package=package.name,
        version=package.version,
        path=file.path,
        line=row,
        setting=candidate.setting,
        prefix="".join(text + "\n" for text in lines[start:row]) + indent,
        suffix="\n" + "\n".join(after) if after else "",
        target=line.strip(),
        cross_file_names=candidate.names,
        contexts={"none": (), "oracle_import": oracle},
        prefix_lines=row,
    )
