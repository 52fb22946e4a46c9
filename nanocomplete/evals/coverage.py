"""Context coverage: how much of what a cross-file completion needs does the selected context show? No model.

    nanocomplete bench coverage [--languages python,typescript] [--budgets 256,512,1024,2048] [--limit N]

For each example of the cross-file benchmark, the *needed identifiers* are those of the target line (at
least MIN_NAME_CHARS characters) that the in-file text (prefix and suffix) does not contain and that some
file of the package defines: what the model cannot know without cross-file context. An arm's *recall* is
the share of them its context shows (over the examples that need any), *verbatim* the examples whose whole
target line the context contains. The target only scores; selection never sees it (the document is the
file without the target line, as in the model runs). Arms: each source alone, the context engine (all
sources) and greedy fill, at each budget; plus the benchmark's oracle (the imported definitions, uncut).
This is cheap (seconds) where a model run costs an hour, so it guides selection changes; model runs decide.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nanocomplete import context
from nanocomplete.config import ContextConfig
from nanocomplete.evals import metrics, tasks
from nanocomplete.evals.runner import PackageWorkspaces, RetrievedContext
from nanocomplete.evals.tasks import Example

MIN_NAME_CHARS = 3
NAME = re.compile(rf"[A-Za-z_$][\w$]{{{MIN_NAME_CHARS - 1},}}")
ARMS = (  # name, runner mode, sources
    ("import", "retrieved", "import"),
    ("similar", "retrieved", "similar"),
    ("context engine", "retrieved", "import,recent,similar"),
    ("greedy fill", "greedy", ""),
)
Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class Coverage:
    language: str
    arm: str
    budget_tokens: int | None  # None: as the benchmark gives it (oracle)
    examples: int
    needing: int  # examples with at least one needed identifier
    recall: float
    all_shown: float  # share of the needing examples whose needed identifiers are all shown
    verbatim: int
    tokens_median: float
    select_ms_p50: float
    select_ms_p95: float


def needed_names(example: Example, defined: set[str]) -> list[str]:
    """Identifiers of the target that the in-file text lacks and the package defines."""
    local = set(NAME.findall(example.prefix + example.suffix))
    names = dict.fromkeys(NAME.findall(example.reference))
    return [name for name in names if name not in local and name in defined]


def measure(
    language: str, tokenize: Tokenize, budgets: Sequence[int], limit: int | None, seed: int = 0,
    setting: str = "cross_file_first",
) -> list[Coverage]:  # fmt: skip
    examples = tasks.examples_for(tasks.get_task(f"crossfile-{language}-retrieved"), limit, seed, setting)
    packages = PackageWorkspaces()  # each package indexed once for every arm
    defined, rows = DefinedNames(packages), []
    for arm, mode, sources in ARMS:
        for budget in budgets:
            config = ContextConfig(context_sources=sources)
            provider = RetrievedContext(mode, config, tokenize, budget, packages)
            rows.append(_score(language, arm, budget, examples, provider, defined, tokenize))
    oracle = {e.id: e for e in tasks.examples_for(tasks.get_task(f"crossfile-{language}-oracle"), None, seed)}
    given = lambda e: (oracle[e.id], {})  # noqa: E731
    rows.append(_score(language, "oracle (imported definitions)", None, examples, given, defined, tokenize))
    return rows


def _score(language, arm, budget, examples, provider, defined, tokenize) -> Coverage:
    recalls, verbatim, tokens, times = [], 0, [], []
    for example in examples:
        with_context, cost = provider(example)
        times.append(cost["context"]["select_ms"] if cost else 0.0)  # indexing the package excluded
        shown_text = "\n".join(f.text for f in with_context.extra_files)
        shown = set(NAME.findall(shown_text))
        tokens.append(
            cost["context"]["tokens"]
            if cost
            else sum(context.entry_tokens(f.path, f.text, tokenize) for f in with_context.extra_files)
        )
        needed = needed_names(example, defined(example.meta["package"]))
        if needed:
            recalls.append(sum(name in shown for name in needed) / len(needed))
        target = example.reference.strip()
        verbatim += bool(target) and target in shown_text
    return Coverage(
        language, arm, budget, len(examples), len(recalls),
        statistics.mean(recalls) if recalls else 0.0,
        sum(r == 1.0 for r in recalls) / len(recalls) if recalls else 0.0,
        verbatim, statistics.median(tokens), statistics.median(times),
        metrics.p95(times),
    )  # fmt: skip


class DefinedNames:
    """The names each package defines (any definition, any depth), computed once per package from the
    indexed packages the context providers share."""

    def __init__(self, packages: PackageWorkspaces | None = None):
        self._packages = packages or PackageWorkspaces()
        self._by_package: dict[str, set[str]] = {}

    def __call__(self, package: str) -> set[str]:
        if package not in self._by_package:
            workspace, _ = self._packages(package)
            self._by_package[package] = {
                d.name for f in workspace.files.values() for d in f.syntax.definitions
            }
        return self._by_package[package]


def table(rows: Sequence[Coverage]) -> str:
    lines = [
        "| language | arm | budget | tokens (median) | recall of needed names | all shown | target verbatim "
        "| select ms p50 / p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        budget = "as given" if r.budget_tokens is None else str(r.budget_tokens)
        lines.append(
            f"| {r.language} | {r.arm} | {budget} | {r.tokens_median:.0f} | {r.recall:.3f} (n={r.needing}) "
            f"| {r.all_shown:.3f} | {r.verbatim}/{r.examples} "
            f"| {r.select_ms_p50:.1f} / {r.select_ms_p95:.1f} |"
        )
    return "\n".join(lines)
