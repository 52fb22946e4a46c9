"""A RepoBench-style cross-file next-line benchmark, built from the EVAL packages of the source corpus.

    python -m nanocomplete.evals.crossfile build [--out DIR] [--per-setting N] [--seed 0] [--packages ...]

Pipeline: pinned archives (corpus.pins, corpus.sources) → library files (corpus.files) → candidate examples
(crossfile_examples) → a seeded, package-balanced sample of at most `per_setting` examples per (language,
setting) → in the out folder: `python.jsonl`, `typescript.jsonl` (TSX files are typescript with dialect
"tsx") and `manifest.json` (versions, licenses, archive SHA-256s, file and example counts); `archives/`
caches the downloads. The same pins, seed and code give byte-identical files.

Sampling: a package gets at most `max_package_share` of a setting's examples, the rest is shared out
evenly (packages with few candidates give their unused share to the others); inside a package, files take
turns so that one long file cannot fill its quota.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from nanocomplete import models
from nanocomplete.corpus import pins, sources
from nanocomplete.corpus.files import package_record, select_files
from nanocomplete.evals.crossfile_examples import SETTINGS, Candidate, Example, PackageIndex
from nanocomplete.storage import write_atomic

BENCHMARK_NAME = "crossfile-v1"
LANGUAGES = ("python", "typescript")
DEFAULT_PER_SETTING = 400
DEFAULT_MAX_PACKAGE_SHARE = 0.35

__all__ = [
    "Built",
    "Example",
    "build",
    "default_out_dir",
    "load",
    "main",
    "make_parser",
    "package_files",
    "sample",
    "summary",
    "write",
]


@dataclass(frozen=True)
class Built:
    """A sampled benchmark and the facts its manifest records."""

    examples: tuple[Example, ...]  # by language, setting, package, path, line
    manifest: dict


def default_out_dir() -> Path:
    """$NANOCOMPLETE_CACHE_DIR/benchmarks/crossfile-v1, else the XDG cache dir (~/.cache/nanocomplete/...)."""
    return models.cache_dir().parent / "benchmarks" / BENCHMARK_NAME


def build(
    packages: Sequence[sources.Package],
    per_setting: int = DEFAULT_PER_SETTING,
    seed: int = 0,
    max_package_share: float = DEFAULT_MAX_PACKAGE_SHARE,
    progress: bool = False,
) -> Built:
    """Select files, find candidate examples and sample them (no I/O: the packages are already read)."""
    candidates: list[Candidate] = []
    indexes: dict[str, PackageIndex] = {}
    package_facts: dict[str, dict] = {}
    for package in tqdm(packages, desc="examples", unit="package", disable=not progress):
        files = select_files(package)
        indexes[package.name] = PackageIndex(package, files)
        candidates += indexes[package.name].candidates()
        package_facts[package.name] = package_record(package, files)
    chosen = sample(candidates, per_setting, seed, max_package_share)
    manifest = {
        "benchmark": BENCHMARK_NAME,
        "seed": seed,
        "per_setting": per_setting,
        "max_package_share": max_package_share,
        "packages": package_facts,
        "candidates": _counts(candidates),
        "examples": _counts(chosen),
    }
    examples = tuple(indexes[candidate.package].example(candidate) for candidate in chosen)
    return Built(examples, manifest)


# --- sampling --------------------------------------------------------------------------------------------


def sample(candidates: Sequence[Candidate], per_setting: int, seed: int, max_share: float) -> list[Candidate]:
    """At most `per_setting` examples per (language, setting), balanced over packages, deterministic."""
    groups: dict[tuple[str, str, str], list[Candidate]] = {}
    for example in sorted(candidates, key=_order):
        groups.setdefault((example.language, example.setting, example.package), []).append(example)
    chosen: list[Candidate] = []
    for language in LANGUAGES:
        for setting in SETTINGS:
            by_package = {key[2]: group for key, group in groups.items() if key[:2] == (language, setting)}
            cap = max(1, int(per_setting * max_share))
            quotas = _allocate({name: len(group) for name, group in by_package.items()}, per_setting, cap)
            for name, group in sorted(by_package.items()):
                rng = random.Random(f"{seed}/{language}/{setting}/{name}")
                chosen += sorted(_spread(group, quotas[name], rng), key=_order)
    return chosen


def _order(item: Candidate) -> tuple:
    return LANGUAGES.index(item.language), SETTINGS.index(item.setting), item.package, item.path, item.line


def _allocate(available: dict[str, int], total: int, cap: int) -> dict[str, int]:
    """Equal shares of `total`, none above `cap` or what a package has; leftovers go to the others."""
    quotas = dict.fromkeys(available, 0)
    limit = {name: min(count, cap) for name, count in available.items()}
    remaining = total
    open_ = sorted(name for name in available if limit[name] > 0)
    while remaining > 0 and open_:
        share = max(1, remaining // len(open_))
        for name in list(open_):
            give = min(share, limit[name] - quotas[name], remaining)
            quotas[name] += give
            remaining -= give
            if quotas[name] >= limit[name]:
                open_.remove(name)
            if remaining == 0:
                break
    return quotas


def _spread(group: list[Candidate], count: int, rng: random.Random) -> list[Candidate]:
    """`count` examples drawn at random, files taking turns (each file's first pick, then second, ...)."""
    shuffled = list(group)
    rng.shuffle(shuffled)
    turn: Counter[str] = Counter()
    ranked = []
    for position, candidate in enumerate(shuffled):
        ranked.append((turn[candidate.path], position, candidate))
        turn[candidate.path] += 1
    return [candidate for _, _, candidate in sorted(ranked, key=lambda item: item[:2])[:count]]


def _counts(examples: Sequence[Candidate]) -> dict:
    """{language: {setting: {package: count}}}, every setting present."""
    counts: dict = {language: {setting: {} for setting in SETTINGS} for language in LANGUAGES}
    for example in examples:
        per_package = counts[example.language][example.setting]
        per_package[example.package] = per_package.get(example.package, 0) + 1
    return counts


# --- files -----------------------------------------------------------------------------------------------


def write(built: Built, out_dir: Path) -> None:
    """`<language>.jsonl` for each language and `manifest.json`, each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for language in LANGUAGES:
        lines = [
            json.dumps(e.to_json(), ensure_ascii=False) for e in built.examples if e.language == language
        ]
        write_atomic(out_dir / f"{language}.jsonl", "".join(line + "\n" for line in lines))
    write_atomic(out_dir / "manifest.json", json.dumps(built.manifest, indent=2, ensure_ascii=False) + "\n")


def package_files(name: str) -> dict[str, str]:
    """The library files (path → text) of the pinned eval package `name`, from the cached archives."""
    pin = pins.eval_pins([name])[0]
    return dict(sources.load_package(pin, default_out_dir() / "archives").files)


def load(path: Path | str) -> list[Example]:
    """The examples of one JSONL file, in file order."""
    with open(path, encoding="utf-8") as f:
        return [Example.from_json(json.loads(line)) for line in f if line.strip()]


def summary(manifest: dict) -> str:
    """A table of example counts per language × setting × package (candidates in parentheses)."""
    rows = []
    for language in LANGUAGES:
        for setting in SETTINGS:
            chosen = manifest["examples"][language][setting]
            available = manifest["candidates"][language][setting]
            parts = [f"{name} {chosen.get(name, 0)} ({count})" for name, count in sorted(available.items())]
            total = f"{sum(chosen.values())} of {sum(available.values())}"
            rows.append(f"{language:<10} {setting:<17} {total:>13}   " + ", ".join(parts))
    return "\n".join(rows)


# --- command line ----------------------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nanocomplete.evals.crossfile", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_ = commands.add_parser("build", help="download the pinned eval packages and build the benchmark")
    # where
    build_.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: ~/.cache/nanocomplete/benchmarks/crossfile-v1)",
    )
    # what
    build_.add_argument(
        "--per-setting", type=int, default=DEFAULT_PER_SETTING, help="examples per language × setting"
    )
    build_.add_argument("--seed", type=int, default=0, help="sampling seed")
    build_.add_argument(
        "--packages", nargs="+", default=None, help="eval packages to use (default: all pinned)"
    )
    build_.add_argument(
        "--max-package-share",
        type=float,
        default=DEFAULT_MAX_PACKAGE_SHARE,
        help="cap on one package's share",
    )
    build_.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.per_setting < 1:
        parser.error("--per-setting must be at least 1")
    if not 0 < args.max_package_share <= 1:
        parser.error("--max-package-share must be in (0, 1]")
    out_dir = args.out or default_out_dir()
    started = time.monotonic()
    try:
        chosen = pins.eval_pins(args.packages)
        progress = not args.no_progress
        packages = [
            sources.load_package(pin, out_dir / "archives")
            for pin in tqdm(chosen, desc="packages", unit="package", disable=not progress)
        ]
    except sources.SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    built = build(packages, args.per_setting, args.seed, args.max_package_share, progress)
    write(built, out_dir)
    print(summary(built.manifest))
    print(f"wrote {len(built.examples)} examples to {out_dir} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
