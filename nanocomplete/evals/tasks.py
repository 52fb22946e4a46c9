"""Registered evaluation tasks: each turns a data set into Examples (cursor text, reference, what scores it)
and names the completion settings it runs with. Pure data reading: no model code is imported here, so the
scoring process can load tasks too.

A `typed` cursor moves the first word of the reference line (and the space after it) into the prefix, so
the model completes a line the user has started typing: the case where the two prompt layouts differ.
An `own-line` cursor is the `typed` one (or the indentation alone, when the line has one word) on a line of
its own, as an editor holds it after Enter: the line break after the reference line opens the suffix, so
the rest of the cursor's line is empty (single-line tasks; the reference is that line).
An `auto-closed` cursor types the reference line up to its first opening bracket, and puts the closers an
editor inserts then (`typist.auto_closed`) right of the cursor: the reference is the rest of the line, and
the scorer lets the completion cover those closers as the editor's replace range does.
An `after-dot` cursor types the reference line up to its first member access's `.` (`json.|dumps`), and a
`mid-word` cursor up to the first two letters of its first word of 4 or more letters (`re|turn`): the
cursors of typing mid-line, where the prompt ends inside what the tokenizer writes as one token. Both leave
an example whose line has no such place at the line's start.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from nanocomplete import typist
from nanocomplete.config import GenerationConfig, PostprocessConfig
from nanocomplete.corpus import benchmarks
from nanocomplete.prompt import ExtraFile, FimInput, closing_lines

CURSORS = ("line-start", "typed", "own-line", "auto-closed", "after-dot", "mid-word")


@dataclass(frozen=True)
class Example:
    id: str
    prefix: str
    suffix: str
    reference: str  # what should be inserted at the cursor (a middle, a line's remainder, a body)
    language: str  # "python" | "javascript" | "typescript"
    path: str | None = None
    repo_name: str | None = None
    extra_files: tuple[ExtraFile, ...] = ()
    meta: dict = field(default_factory=dict)  # tests, entry point, setting, package, ...
    header: tuple[tuple[int, str], ...] = ()  # the context engine's (`FimInput.header`)

    def fim_input(self) -> FimInput:
        return FimInput(self.prefix, self.suffix, self.path, self.repo_name, self.extra_files, self.header)


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    scorer: str  # "fim_exec" | "l2r_exec" | "next_line"
    load: Callable[[], list[Example]]
    generation: GenerationConfig = GenerationConfig()
    postprocess: PostprocessConfig = PostprocessConfig()
    context: str = "given"  # "given": as loaded; "retrieved" / "greedy": the runner selects other files


def select(
    examples: list[Example], limit: int | None, seed: int, leave_out: int | None = None
) -> list[Example]:
    """A seeded random sample of `limit` examples, in their original order (all when limit is None).
    `leave_out`: first drop the seeded sample of that many (another run's `limit`: its test set), so
    that a configuration chosen on that sample is confirmed on examples it never saw."""
    if leave_out:
        seen = {e.id for e in select(examples, leave_out, seed)}
        examples = [e for e in examples if e.id not in seen]
    if limit is None or limit >= len(examples):
        return examples
    chosen = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in chosen]


def examples_for(
    task: Task, limit: int | None, seed: int, setting: str | None = None, leave_out: int | None = None
) -> list[Example]:
    """The examples a run uses: those of one `setting` (if given), then a seeded sample of `limit`
    (after leaving out the seeded sample of `leave_out`)."""
    examples = task.load()
    if setting is not None:
        examples = [e for e in examples if e.meta.get("setting") == setting]
    return select(examples, limit, seed, leave_out)


def with_cursor(example: Example, cursor: str) -> Example:
    """The example with the cursor at the start of the reference line, after its first typed word, after
    its first opening bracket (`auto-closed`; unchanged when the line has none with text after it), after
    its first member access's dot or inside its first long word (`after-dot`, `mid-word`; unchanged when
    it has none): see the module's docstring."""
    if cursor == "line-start":
        return example
    if cursor == "auto-closed":
        return _after_first_opener(example)
    if cursor == "own-line":
        return _on_its_own_line(example)
    return _typed_to(example, _TYPED[cursor])


def _on_its_own_line(example: Example) -> Example:
    line, newline, rest = example.reference.partition("\n")
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    typed = with_cursor(replace(example, reference=line), "typed")
    if typed.reference == line:  # one word: only the editor's indentation is there
        typed = replace(example, prefix=example.prefix + indent, reference=line[len(indent) :])
    return replace(typed, suffix=newline + rest + example.suffix)


_TYPED = {  # what is typed of the line: its first word and the spaces after it (more text follows), up to a
    # member access's dot, into a long word
    "typed": re.compile(r"^[ \t]*\S+[ \t]+(?=\S)"),
    "after-dot": re.compile(r"^.*?\w\.(?=[A-Za-z_])"),
    "mid-word": re.compile(r"^.*?\b(?=[A-Za-z_]{4,})[A-Za-z_]{2}"),
}


def _typed_to(example: Example, pattern: re.Pattern) -> Example:
    line = example.reference.partition("\n")[0]
    typed = pattern.match(line)
    if typed is None:
        return example
    text = typed.group(0)
    return replace(example, prefix=example.prefix + text, reference=example.reference[len(text) :])


def _after_first_opener(example: Example) -> Example:
    line, newline, rest = example.reference.partition("\n")
    opener = re.search(r"[(\[{](?=.*[^\s)\]}])", line)  # with more than closers after it
    if opener is None:
        return example
    typed = line[: opener.end()]
    closers = typist.auto_closed(typed)
    return replace(
        example,
        prefix=example.prefix + typed,
        suffix=closers + newline + rest + example.suffix,
        reference=line[len(typed) :],
        meta={**example.meta, "auto_closed": closers},
    )


# --- loaders ---------------------------------------------------------------------------------------------


def _python_infilling(kind: str) -> Callable[[], list[Example]]:
    def load() -> list[Example]:
        return [
            Example(
                id=r["task_id"],
                prefix=r["prompt"],
                suffix=r["suffix"],
                reference=r["canonical_solution"],
                language="python",
                meta={"test": r["test"], "entry_point": r["entry_point"]},
            )
            for r in benchmarks.infilling(kind)
        ]

    return load


def _javascript_infilling() -> list[Example]:
    return [
        Example(
            r["task_id"],
            r["prompt"],
            r["suffix"],
            r["canonical_solution"],
            "javascript",
            meta={"test": r["test"]},
        )
        for r in benchmarks.javascript_single_line()
    ]


def _at_a_block_end(load: Callable[[], list[Example]]) -> Callable[[], list[Example]]:
    """The examples whose reference line is followed by lines of closing brackets only."""
    return lambda: [e for e in load() if closing_lines("\n" + e.suffix)]


def _left_to_right() -> list[Example]:
    return [
        Example(
            r["task_id"],
            r["prompt"],
            "",
            r["canonical_solution"],
            "python",
            meta={"test": r["test"], "entry_point": r["entry_point"]},
        )
        for r in benchmarks.left_to_right()
    ]


def _cross_file(language: str, context: str) -> Callable[[], list[Example]]:
    """Examples of the cross-file benchmark; `context` "oracle_import" attaches its oracle snippets (the
    runner adds retrieved ones for the "retrieved" and "greedy" tasks)."""

    def load() -> list[Example]:
        from nanocomplete.evals import crossfile  # built data; only needed by these tasks

        path = crossfile.default_out_dir() / f"{language}.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `python -m nanocomplete.evals.crossfile build`")
        return [
            Example(
                id=e.id,
                prefix=e.prefix,
                suffix=e.suffix,
                reference=e.target,
                language=e.language,
                path=e.path,
                repo_name=e.package,
                extra_files=tuple(ExtraFile(s.path, s.text) for s in e.contexts.get(context, ())),
                meta={"setting": e.setting, "package": e.package, "version": e.version, "line": e.line},
            )
            for e in crossfile.load(path)
        ]

    return load


CROSS_FILE_CONTEXTS = (
    ("", "none, in-file only", "given"),
    ("-oracle", "snippets of the imported definitions, as RepoBench gives", "given"),
    ("-retrieved", "the context engine, sources from --context-sources", "retrieved"),
    ("-greedy", "whole nearest files until the budget is full (baseline)", "greedy"),
)

# Qwen's FIM protocol generates up to 64 tokens and scores the first line.
QWEN_FIM = GenerationConfig(max_tokens=64)
MULTI_LINE = PostprocessConfig(max_lines=40, stop_at_blank_line=False)
BODY = GenerationConfig(max_tokens=384)

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "humaneval-fim-single",
            "HumanEval single-line infilling (Python, 1,033 tasks): pass@1 and Qwen first-line EM/ES",
            "fim_exec",
            _python_infilling("SingleLine"),
            QWEN_FIM,
        ),
        Task(
            "humaneval-fim-multi",
            "HumanEval multi-line infilling (Python, 5,815 tasks; sample with --limit): pass@1, EM/ES",
            "fim_exec",
            _python_infilling("MultiLine"),
            GenerationConfig(max_tokens=128),
            MULTI_LINE,
        ),
        Task(
            "humaneval-x-js-fim-single",
            "HumanEval-X JavaScript single-line infilling, built from canonical solutions: pass@1, EM/ES",
            "fim_exec",
            _javascript_infilling,
            QWEN_FIM,
        ),
        Task(
            "humaneval-x-js-fim-block-end",
            "HumanEval-X JavaScript single-line infilling at a block's last line (the next line holds only "
            "closing brackets; 414 tasks): pass@1, EM/ES; with --cursor own-line, the editor after Enter",
            "fim_exec",
            _at_a_block_end(_javascript_infilling),
            QWEN_FIM,
        ),
        Task(
            "humaneval",
            "HumanEval left-to-right: complete the function body (164 problems), pass@1",
            "l2r_exec",
            _left_to_right,
            BODY,
            MULTI_LINE,
        ),
        *(
            Task(
                f"crossfile-{language}{suffix}",
                f"cross-file next line ({language}; context: {description}): EM, ES, identifier match",
                "next_line",
                _cross_file(language, "oracle_import" if suffix == "-oracle" else "none"),
                context=context,
            )
            for language in ("python", "typescript")
            for suffix, description, context in CROSS_FILE_CONTEXTS
        ),
    )
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}") from None
