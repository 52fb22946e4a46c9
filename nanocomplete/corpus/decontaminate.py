"""Decontamination against HumanEval (evaluation data must not become training data).

The rule: an example is dropped when its target line(s) or the `WINDOW_LINES` lines on either side contain
- a line of a HumanEval canonical solution (Python: HumanEval/HumanEval+; JavaScript: HumanEval-X) that is
  at least `MIN_SOLUTION_CHARS` characters long, or
- a signature line of a HumanEval prompt (`def name(...)`, or the JavaScript `const name = (...) => {` /
  `function name(...)` line), whatever its length.
Lines are compared whole after collapsing whitespace (so indentation and spacing do not matter). The data
are the repository's `data/` files (see data/README.md); MBPP is not in the repository yet, so it is not
checked (the builder's manifest says so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nanocomplete.corpus import benchmarks

WINDOW_LINES = 5
MIN_SOLUTION_CHARS = 40
SIGNATURE = re.compile(r"(async\s+)?def\s+\w+\s*\(|function\s+\w+\s*\(|const\s+\w+\s*=\s*\(.*=>")
SOURCES = ("HumanEval+ (Python)", "HumanEval-X (JavaScript)")


def normalize(line: str) -> str:
    return " ".join(line.split())


@dataclass(frozen=True)
class Decontaminator:
    lines: frozenset[str]  # normalized lines that no example may come near

    @classmethod
    def from_problems(cls, problems: Iterable[dict]) -> Decontaminator:
        """From records with `prompt` and `canonical_solution` (the HumanEval fields)."""
        banned: set[str] = set()
        for problem in problems:
            for line in problem["canonical_solution"].split("\n"):
                if len(normalize(line)) >= MIN_SOLUTION_CHARS:
                    banned.add(normalize(line))
            for line in problem["prompt"].split("\n"):
                if SIGNATURE.match(line.strip()):
                    banned.add(normalize(line))
        return cls(frozenset(banned))

    @classmethod
    def humaneval(cls) -> Decontaminator:
        javascript = benchmarks.read_jsonl_gz("humaneval-x/humaneval_js.jsonl.gz")
        return cls.from_problems([*benchmarks.left_to_right(), *javascript])

    def flagged_rows(self, lines: Sequence[str]) -> frozenset[int]:
        """The rows of a file that hold a banned line."""
        return frozenset(
            row for row, line in enumerate(lines) if line.strip() and normalize(line) in self.lines
        )

    @staticmethod
    def near(flagged: frozenset[int], first_row: int, last_row: int) -> bool:
        """Whether rows first_row..last_row (the target) or WINDOW_LINES around them hold a banned line."""
        return any(first_row - WINDOW_LINES <= row <= last_row + WINDOW_LINES for row in flagged)
