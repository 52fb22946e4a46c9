"""Prompt tokens each replay request would evaluate with per-file KV reuse, counted without a model.

    .venv/bin/python runs/prompt_reuse.py --language typescript [--language python] [--sessions 3]

The replay's typist (`nanocomplete.typist`, VS Code's habits: brackets auto-closed, Enter between brackets
moving the closer below) writes the default replay sessions (`bench replay`'s pinned repositories and
seeds) against an arm that only builds the serving prompt (`config.SERVING_PROMPT`, the real tokenizer) for
each request and for each file switch (the editor's warm-up), and counts the tokens after the longest
prefix shared with the previous prompt of the same file: what per-file KV reuse would evaluate. It accepts
no suggestion, so every arm types the same keystrokes. Two arms:
- `closing lines kept`: the code before closing lines were left out (`prompt.closing_lines` returning
  nothing: only the rest of the cursor's line is left out, as until 2026-12-02);
- `closing lines left out`: the serving default now.
Not modelled: other files' context (its tokens come first and change with the context engine's choice),
the prefix window's moves within `prefix_anchor_lines` (modelled: they are part of the prompt), and
generated tokens in the cache. So it isolates what the prefix, middle and suffix layout cost.
Prints the tokens evaluated per request kind (p50, p95, mean) for both arms, and the paired per-visit ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from unittest import mock

import numpy as np

from nanocomplete import models, prompt, replay, typist
from nanocomplete.cli import replay_repos
from nanocomplete.config import SERVING_PROMPT
from nanocomplete.engine import Tokenizer
from nanocomplete.prompt import FimInput


class PromptArm:
    """Builds the serving prompt of every request and counts what a per-file KV cache would evaluate."""

    def __init__(self, tokenize: Callable[[str], list[int]]):
        self.tokenize = tokenize
        self.cached: dict[str, tuple[tuple[int, ...], tuple[int | None, int | None]]] = {}

    def activate(self, document: typist.Document) -> None:
        self._evaluated(document)  # the editor's warm-up fills the file's cache

    def complete(self, document: typist.Document) -> typist.Answer:
        evaluated, total = self._evaluated(document)
        return typist.Answer("", 0.0, prompt_tokens_evaluated=evaluated, prompt_tokens=total)

    def _evaluated(self, document: typist.Document) -> tuple[int, int]:
        lines = document.text.split("\n")
        column = replay._column(lines[document.line], document.character)
        before = "\n".join([*lines[: document.line], lines[document.line][:column]])
        after = document.text[len(before) :]
        previous, hints = self.cached.get(document.path, ((), (None, None)))
        built = prompt.build(FimInput(before, after, document.path), self.tokenize, SERVING_PROMPT, *hints)
        shared = 0
        for a, b in zip(built.tokens, previous, strict=False):
            if a != b:
                break
            shared += 1
        self.cached[document.path] = (built.tokens, (built.prefix_start_line, built.middle_start_line))
        return len(built.tokens) - shared, len(built.tokens)


def replay_arm(
    repos, sessions: int, tokenize, closing_lines_left_out: bool
) -> list[tuple[str, int, typist.Record]]:
    rows = []
    patch = (
        mock.patch.object(prompt, "closing_lines", lambda suffix: "")
        if not closing_lines_left_out
        else mock.patch.object(prompt, "closing_lines", prompt.closing_lines)
    )
    with patch:
        for repo in repos:
            for seed in range(sessions):
                regions, script = typist.plan_session(repo.files, repo.suffixes, seed)
                session = typist.Typist(repo.files, regions, seed).run(script, PromptArm(tokenize))
                rows += [(f"{repo.name}#{seed}", r.visit, r) for r in session.records]
    return rows


def summary(rows) -> dict[str, tuple[int, float, float, float]]:
    by_kind = defaultdict(list)
    for _, _, record in rows:
        by_kind[record.kind].append(record.prompt_tokens_evaluated)
        by_kind["all"].append(record.prompt_tokens_evaluated)
    return {
        kind: (len(v), float(np.percentile(v, 50)), float(np.percentile(v, 95)), statistics.mean(v))
        for kind, v in by_kind.items()
    }


def paired_visit_ratio(a_rows, b_rows, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Sum of tokens evaluated in arm b ÷ arm a, with a bootstrap over visits (95%)."""
    totals = defaultdict(lambda: [0, 0])
    for index, rows in enumerate((a_rows, b_rows)):
        for session, visit, record in rows:
            totals[(session, visit)][index] += record.prompt_tokens_evaluated
    pairs = np.array(list(totals.values()), dtype=float)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        sample = pairs[rng.integers(0, len(pairs), len(pairs))]
        draws.append(sample[:, 1].sum() / max(1.0, sample[:, 0].sum()))
    return pairs[:, 1].sum() / pairs[:, 0].sum(), *np.percentile(draws, [2.5, 97.5])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--language", action="append", required=True, choices=sorted(replay.LANGUAGE_SUFFIXES)
    )
    parser.add_argument("--sessions", type=int, default=1, help="sessions per repository (seeds 0, 1, ...)")
    args = parser.parse_args(argv)
    tokenize = Tokenizer(models.resolve("nanocomplete-0.5b")).tokenize
    for language in args.language:
        repos = replay_repos(None, [language])
        kept = replay_arm(repos, args.sessions, tokenize, closing_lines_left_out=False)
        left_out = replay_arm(repos, args.sessions, tokenize, closing_lines_left_out=True)
        assert [r.line_prefix for *_, r in kept] == [r.line_prefix for *_, r in left_out]
        print(f"\n{language}: {len(kept)} requests, {', '.join(r.name for r in repos)}")
        print("| request kind | n | kept: p50 / p95 / mean | left out: p50 / p95 / mean |")
        print("|---|---|---|---|")
        a, b = summary(kept), summary(left_out)
        for kind in (*typist.REQUEST_KINDS, "all"):
            if kind in a:
                n, *x = a[kind]
                _, *y = b[kind]
                kept_cells = f"{x[0]:.0f} / {x[1]:.0f} / {x[2]:.1f}"
                print(f"| {kind} | {n} | {kept_cells} | {y[0]:.0f} / {y[1]:.0f} / {y[2]:.1f} |")
        ratio, low, high = paired_visit_ratio(kept, left_out)
        print(f"tokens evaluated, left out ÷ kept (paired by visit): {ratio:.2f} [{low:.2f}, {high:.2f}]")
        moved = sum(r.prompt_tokens_evaluated > 32 for *_, r in kept if r.kind == "new_line")
        moved_after = sum(r.prompt_tokens_evaluated > 32 for *_, r in left_out if r.kind == "new_line")
        print(f"new-line requests evaluating more than 32 tokens: kept {moved}, left out {moved_after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
