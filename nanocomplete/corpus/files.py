"""Which files of a package the corpus uses (pure: no I/O): every source file parsed, and those that give
no examples marked with the reason. Shared by the cross-file benchmark (evals/crossfile*) and the
training-data builder (train/examples), so both judge files by the same rules.

- generated: over MAX_FILE_BYTES, or a line over MAX_LINE_CHARS;
- parse_error: tree-sitter errors touch more than MAX_ERROR_LINE_SHARE of the lines (the TypeScript
  grammar lags the language, e.g. `in`/`out` variance annotations);
- near_duplicate: 5-token shingles (string literals blanked) overlap an earlier file's by a Jaccard index
  of NEAR_DUPLICATE_JACCARD or more.
Dropped files still count when resolving imports: a name imported from one is still a cross-file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nanocomplete import syntax
from nanocomplete.corpus.sources import Package

MAX_FILE_BYTES = 200_000  # larger files count as generated
MAX_LINE_CHARS = 1_000  # so do files with a longer line
MAX_ERROR_LINE_SHARE = 0.01  # files with more lines touched by parse errors count as unparseable
NEAR_DUPLICATE_JACCARD = 0.5  # of 5-token shingles, string literals blanked (zod's locales are 0.5-1.0)
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\]|\\.)*`')
_TOKEN = re.compile(r"[A-Za-z_$][\w$]*|\S")


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str
    lines: tuple[str, ...]
    language: str  # the syntax language: python | typescript | tsx
    facts: syntax.FileSyntax
    dropped: str | None = None  # why no examples come from it: generated | parse_error | near_duplicate


def select_files(package: Package) -> list[SourceFile]:
    """Every source file of the package, parsed; `dropped` says which ones give no examples and why.
    Dropped files still count for import resolution (a name from them is still a cross-file name)."""
    files: list[SourceFile] = []
    shingles: list[set[tuple[str, ...]]] = []
    for path, text in package.files:
        language = syntax.language_of(path)
        if language is None:
            continue
        lines = tuple(text.split("\n"))
        facts = syntax.parse(text, language)
        reason = None
        if len(text.encode()) > MAX_FILE_BYTES or max(map(len, lines)) > MAX_LINE_CHARS:
            reason = "generated"
        elif len(facts.error_lines) > MAX_ERROR_LINE_SHARE * len(lines):
            reason = "parse_error"
        else:
            mine = _shingles(text)
            if any(_jaccard(mine, other) >= NEAR_DUPLICATE_JACCARD for other in shingles):
                reason = "near_duplicate"
            else:
                shingles.append(mine)
        files.append(SourceFile(path, text, lines, language, facts, reason))
    return files


def dropped_paths(files: list[SourceFile]) -> dict[str, list[str]]:
    """The files that give no examples, by reason."""
    dropped: dict[str, list[str]] = {"generated": [], "parse_error": [], "near_duplicate": []}
    for file in files:
        if file.dropped:
            dropped[file.dropped].append(file.path)
    return dropped


def _shingles(text: str) -> set[tuple[str, ...]]:
    tokens = _TOKEN.findall(_STRING.sub('""', text))
    return {tuple(tokens[i : i + 5]) for i in range(len(tokens) - 4)}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def package_record(package: Package, files: list[SourceFile]) -> dict:
    """What a manifest records about one package: version, license, archive hash, files kept/dropped."""
    return {
        "version": package.version,
        "ecosystem": package.ecosystem,
        "license": package.license,
        "archive": package.archive,
        "sha256": package.sha256,
        "copyright": list(package.copyright),
        "notice": package.notice,
        "files": sum(1 for file in files if not file.dropped),
        "dropped": dropped_paths(files),
    }
