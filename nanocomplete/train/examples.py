"""Examples of one package (pure: no I/O; the tokenizer is passed in): candidates at editor-like cursors,
and each example's prompt made on the server's path.

The document is the file with the answer cut out, and the workspace holds the document in place of the file
(as the server's index holds the editor's buffer), so the answer is never used to retrieve. Then
`context.attach` and `prompt.build` with the recipe's settings (the server's by default). The answer's
tokens are the healed whitespace plus the answer, then <|endoftext|> (so the model learns to stop); answers
longer than `max_target_tokens` are shortened by block lines, or dropped.

Sampling inside a package (seeded): cursor kinds take turns by KIND_WEIGHTS, TSX files count double;
`cross_file_share` of the examples (0 by default: no preference) are cross-file lines first: the answer uses a
name the file imports from another file of the package (`corpus.imports`, the cross-file benchmark's rule for
its cross_file settings); then about `context_copy_share` of them are context copies: the answer uses an
identifier (of at least MIN_COPY_NAME_CHARS characters) that the cross-file context shows and the in-file
prompt text does not. Candidates whose answer has an identifier found nowhere else in the file are tried first
for those.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from nanocomplete import context, fim, prompt, syntax
from nanocomplete.config import SERVING_FULL_PROMPT, ContextConfig, GenerationConfig, PromptConfig
from nanocomplete.corpus import decontaminate
from nanocomplete.corpus.files import SourceFile, package_record, select_files
from nanocomplete.corpus.imports import PackageImports, cross_file_uses
from nanocomplete.corpus.sources import Package
from nanocomplete.errors import PromptError
from nanocomplete.prompt import FimInput
from nanocomplete.train import cursors
from nanocomplete.train.cursors import Cursor
from nanocomplete.workspace import Workspace, code_tokens

Tokenize = Callable[[str], list[int]]
DIALECT_WEIGHTS = {"python": 1.0, "ts": 1.0, "tsx": 2.0, "js": 1.0, "jsx": 2.0}
KIND_WEIGHTS = {"after_trigger": 0.45, "end_of_line": 0.2, "new_line": 0.35}
CONTEXT_COPY_SHARE = 0.3
STANDARD_LAYOUT_SHARE = 0.5
MIN_COPY_NAME_CHARS = 3  # shorter identifiers (`i`, `lt`) do not make a context copy
# candidates tried per context-copy slot before giving up on the share: in Python, 6 fill 11% of a 30% share
# and 24 fill 24%, at over twice the build time (docs/training.md, "Python context copies")
COPY_TRIES_PER_SLOT = 6
# answers that use a name imported from another file of the package: at the candidates' own share (0) 17% of
# Python's and 18% of TypeScript's examples (a 360-example build of the GPU runs' recipe), two thirds of the
# cross-file benchmark's (docs/training.md, "Cross-file lines")
CROSS_FILE_SHARE = 0.0


@dataclass(frozen=True)
class Recipe:
    """How prompts and answers are made: the server's settings by default."""

    prompt: PromptConfig = SERVING_FULL_PROMPT
    context: ContextConfig = ContextConfig()
    max_target_tokens: int = GenerationConfig().max_tokens
    context_copy_share: float = CONTEXT_COPY_SHARE
    copy_tries_per_slot: int = COPY_TRIES_PER_SLOT
    cross_file_share: float = CROSS_FILE_SHARE
    # share of examples in the standard layout (typed line before the suffix, no healing), so the model
    # also serves clients and benchmarks that do not use the server's layout
    standard_layout_share: float = STANDARD_LAYOUT_SHARE

    def layout_for(self, seed: int, path: str, cursor_offset: int) -> PromptConfig:
        """The prompt settings of the example at `cursor_offset` of `path` (seeded, stable)."""
        if random.Random(f"{seed}/{path}/{cursor_offset}").random() >= self.standard_layout_share:
            return self.prompt
        return dataclasses.replace(
            self.prompt, current_line_after_middle=False, heal_trailing_whitespace=False
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Example:
    """One training example; `record` is its JSONL line (ids, no source text)."""

    id: str  # "<package>/<path>:<row>:<column>"
    language: str  # python | typescript | javascript
    dialect: str  # python | ts | tsx | js | jsx
    package: str
    path: str
    kind: str  # one of cursors.KINDS
    row: int
    column: int
    prefix: str  # the file up to the cursor
    target: str  # the answer
    suffix: str  # the file after the answer
    prompt: prompt.Prompt
    target_ids: tuple[int, ...]  # healed whitespace + answer, then <|endoftext|>
    copy_names: tuple[str, ...]  # answer identifiers only the cross-file context shows
    layout: str  # "after_middle" (the server's) or "standard"
    cross_file: bool = False  # the answer uses a name imported from another file of the package

    @property
    def block_lines(self) -> int:
        return self.target.strip("\n").count("\n") + 1

    def record(self) -> dict:
        return {
            "id": self.id,
            "language": self.language,
            "dialect": self.dialect,
            "package": self.package,
            "path": self.path,
            "row": self.row,
            "column": self.column,
            "kind": self.kind,
            "layout": self.layout,
            "block_lines": self.block_lines,
            "context_copy": bool(self.copy_names),
            "copy_names": list(self.copy_names),
            "cross_file": self.cross_file,
            "context_tokens": self.prompt.context_tokens,
            "prefix_tokens": self.prompt.prefix_tokens,
            "suffix_tokens": self.prompt.suffix_tokens,
            "target": self.target,
            "prompt_ids": list(self.prompt.tokens),
            "target_ids": list(self.target_ids),
        }


@dataclass(frozen=True)
class Candidate:
    file: SourceFile
    cursor: Cursor
    novel: bool  # the answer has an identifier found nowhere else in the file
    cross_file: bool = False  # the answer uses a name imported from another file of the package


class PackageBuilder:
    """Candidates of one package and the examples made from them."""

    def __init__(
        self,
        package: Package,
        tokenize: Tokenize,
        cleaner: decontaminate.Decontaminator,
        recipe: Recipe,
        seed: int,
    ):
        self.package, self.tokenize, self.recipe, self.seed = package, tokenize, recipe, seed
        self.files = select_files(package)
        self.imports = PackageImports(self.files)
        # path → 0-based line → the names imported from another file of the package that it uses
        self.cross_file_uses: dict[str, dict[int, list[str]]] = {}
        self.workspace = Workspace()
        self.workspace_texts = {file.path: file.text for file in self.files}
        for file in self.files:
            self.workspace.add(file.path, file.text)
        self.counts: Counter[str] = Counter()
        self._edited: str | None = None  # the file whose text in the workspace is a document
        self.candidates = [
            c for file in self.files if not file.dropped for c in self._candidates(file, cleaner)
        ]

    def _candidates(self, file: SourceFile, cleaner: decontaminate.Decontaminator) -> list[Candidate]:
        rng = random.Random(f"{self.seed}/{self.package.name}/{file.path}")
        code = cursors.code_rows(
            file.lines, syntax.noncode_lines(file.text, file.language), file.facts.error_lines
        )
        flagged = cleaner.flagged_rows(file.lines)
        in_file = Counter(code_tokens(file.text))
        cross = self.imports.cross_file_names(file)
        self.cross_file_uses[file.path] = cross_file_uses(file, cross)[0] if cross else {}
        found = []
        for cursor in cursors.cursors(file.lines, code, rng):
            answer, last_row = cursors.target(file.lines, cursor)
            if flagged and cleaner.near(flagged, cursor.row, last_row):
                self.counts["decontaminated"] += 1
                continue
            mine = Counter(code_tokens(answer))
            novel = any(in_file[name] == n for name, n in mine.items())
            cross_file = self._uses_cross_file(file, cursor, answer, last_row)
            found.append(Candidate(file, cursor, novel, cross_file))
        return found

    def _uses_cross_file(self, file: SourceFile, cursor: Cursor, answer: str, last_row: int) -> bool:
        """Whether the answer (rows cursor.row to last_row) uses a name the file imports from another file
        of the package: a row's use whose name the answer's text has (rows, not columns: a use left of the
        cursor counts only where the answer has the same word too, as an attribute, say)."""
        used_on = self.cross_file_uses[file.path]
        used = {name for row in range(cursor.row, last_row + 1) for name in used_on.get(row, ())}
        return bool(used.intersection(code_tokens(answer)))

    def example(self, candidate: Candidate) -> Example | None:
        """The example at a candidate, or None (answer too long, or the line alone over budget)."""
        file, cursor = candidate.file, candidate.cursor
        self.counts["tried"] += 1
        text = file.text
        start = cursors.offset(file.lines, cursor)
        for block_lines in range(cursor.block_lines, 0, -1):
            answer, last_row = cursors.target(file.lines, cursor, block_lines)
            prefix, suffix = text[:start], text[start + len(answer) :]
            try:
                built, fim_input = self.prompt(file.path, prefix, suffix)
            except PromptError:
                self.counts["over_budget"] += 1
                return None
            target_ids = tuple(self.tokenize(built.healed + answer))
            if len(target_ids) <= self.recipe.max_target_tokens:
                copies = context_copies(answer, prefix, suffix, built, fim_input)
                cross_file = self._uses_cross_file(file, cursor, answer, last_row)  # the answer as cut
                return self._example(
                    file, cursor, prefix, answer, suffix, built, target_ids, copies, cross_file
                )
        self.counts["target_too_long"] += 1
        return None

    def prompt(self, path: str, prefix: str, suffix: str) -> tuple[prompt.Prompt, FimInput]:
        """The server's path: the document in the workspace, context attached, prompt built."""
        if self._edited not in (None, path):
            self.workspace.add(self._edited, self.package_text(self._edited))
        self.workspace.add(path, prefix + suffix)
        self._edited = path
        fim_input = FimInput(prefix, suffix, path, repo_name(self.package.name))
        budget = self.recipe.prompt.max_context_tokens
        if budget > 0:
            fim_input, _ = context.attach(
                fim_input, self.workspace, self.tokenize, budget, self.recipe.context
            )
        layout = self.recipe.layout_for(self.seed, path, len(prefix))
        return prompt.build(fim_input, self.tokenize, layout), fim_input

    def package_text(self, path: str) -> str:
        return self.workspace_texts[path]

    def _example(
        self, file, cursor, prefix, answer, suffix, built, target_ids, copies, cross_file
    ) -> Example:
        return Example(
            id=f"{self.package.name}/{file.path}:{cursor.row}:{cursor.column}",
            language=language_of(file),
            dialect=_dialect(file),
            package=self.package.name,
            path=file.path,
            kind=cursor.kind,
            row=cursor.row,
            column=cursor.column,
            prefix=prefix,
            target=answer,
            suffix=suffix,
            prompt=built,
            target_ids=(*target_ids, fim.ENDOFTEXT),
            copy_names=copies,
            layout=self._layout_name(file.path, len(prefix)),
            cross_file=cross_file,
        )

    def _layout_name(self, path: str, cursor_offset: int) -> str:
        layout = self.recipe.layout_for(self.seed, path, cursor_offset)
        return "after_middle" if layout.current_line_after_middle else "standard"

    # --- sampling ---

    def sample(self, quota: int) -> list[Example]:
        """`quota` examples (fewer when the package runs out): cross-file lines first, up to their share,
        then context copies up to theirs (counting the copies among the cross-file lines), then the rest."""
        ordered = self.ordered()
        chosen: dict[int, Example] = {}
        tried: dict[int, Example | None] = {}

        def take(i: int) -> Example | None:  # the candidate's example, made once
            if i not in tried:
                tried[i] = self.example(ordered[i])
            return tried[i]

        cross_quota = round(quota * self.recipe.cross_file_share)
        for i in [i for i, c in enumerate(ordered) if c.cross_file] if cross_quota else ():
            if len(chosen) >= cross_quota:
                break
            if (found := take(i)) is not None and found.cross_file:  # not when its block was cut short of it
                chosen[i] = found
        copy_quota = round(quota * self.recipe.context_copy_share)
        copies = sum(1 for example in chosen.values() if example.copy_names)
        novel = [i for i, c in enumerate(ordered) if c.novel and i not in chosen]
        for i in novel[: copy_quota * self.recipe.copy_tries_per_slot]:
            if copies >= copy_quota:
                break
            if (found := take(i)) is not None and found.copy_names:
                chosen[i] = found
                copies += 1
        for i in range(len(ordered)):
            if len(chosen) >= quota:
                break
            if i not in chosen and (found := take(i)) is not None:
                chosen[i] = found
        return [chosen[i] for i in sorted(chosen)]

    def ordered(self) -> list[Candidate]:
        """Every candidate, in a seeded order where kinds take turns by KIND_WEIGHTS and TSX counts double."""
        rng = random.Random(f"{self.seed}/{self.package.name}")
        by_kind: dict[str, list[Candidate]] = {kind: [] for kind in cursors.KINDS}
        for candidate in self.candidates:
            by_kind[candidate.cursor.kind].append(candidate)
        for kind, group in by_kind.items():
            keys = [rng.random() ** (1 / DIALECT_WEIGHTS[_dialect(c.file)]) for c in group]
            by_kind[kind] = [c for _, c in sorted(zip(keys, group, strict=True), key=lambda p: -p[0])]
        ordered: list[Candidate] = []
        while any(by_kind.values()):
            kinds = [kind for kind in cursors.KINDS if by_kind[kind]]
            kind = rng.choices(kinds, [KIND_WEIGHTS[k] for k in kinds])[0]
            ordered.append(by_kind[kind].pop(0))
        return ordered

    def facts(self) -> dict:
        return {**package_record(self.package, self.files), "candidates": len(self.candidates)}


def repo_name(package_name: str) -> str:
    """What the server would send as the workspace folder's name (`@tanstack/query-core` → `query-core`)."""
    return package_name.rpartition("/")[2]


def context_copies(
    answer: str, prefix: str, suffix: str, built: prompt.Prompt, fim_input: FimInput
) -> tuple[str, ...]:
    """Identifiers of the answer that the prompt's cross-file context shows and its in-file text does not."""
    shown = fim_input.extra_files[: len(built.extra_files_used)]
    in_context = {name for extra in shown for name in code_tokens(extra.text)}
    in_file_text = "\n".join(prefix.split("\n")[built.prefix_start_line :]) + suffix
    in_file = set(code_tokens(in_file_text))
    names = (n for n in code_tokens(answer) if len(n) >= MIN_COPY_NAME_CHARS)
    return tuple(dict.fromkeys(n for n in names if n in in_context and n not in in_file))


def language_of(file: SourceFile) -> str:
    """An example's language: python | typescript (.ts, .tsx) | javascript (.js, .jsx, .mjs, .cjs)"""
    return file.language if file.language in ("python", "javascript") else "typescript"


def _dialect(file: SourceFile) -> str:
    """python | ts | tsx | js | jsx: TSX and JSX files count double in sampling (DIALECT_WEIGHTS)."""
    if file.language == "javascript":
        return "jsx" if file.path.endswith(".jsx") else "js"
    return {"python": "python", "tsx": "tsx"}.get(file.language, "ts")
