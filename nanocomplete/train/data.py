"""The training data: pinned TRAIN packages → editor-like cursors → prompts exactly as the server builds them
→ token-id shards.

    python -m nanocomplete.train.data build [--out DIR] [--packages ...] [--examples N] [--seed 0]

Per package (corpus.pins pins it; corpus.sources fetches, verifies and license-checks it): the files worth
predicting in (corpus.files.select_files: no generated, unparseable or near-duplicate files), every cursor
of every file (cursors.py) but those near a HumanEval line (corpus.decontaminate), and examples made
and sampled by examples.py. Packages get shares of the examples by language weight (TypeScript up); the
examples are shuffled and written in shards. The same pins, seed and code give byte-identical files.

Out folder: `train-NNNNN.jsonl` shards (one example per line: `prompt_ids`, `target_ids` and what the
example is), `manifest.json` (packages, versions, licenses, hashes, counts, seed, recipe, decontamination)
and `archives/` (the verified downloads, so a rebuild is offline).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nanocomplete import models
from nanocomplete.config import SERVING_FULL_PROMPT
from nanocomplete.corpus import decontaminate, pins, sources
from nanocomplete.corpus.sources import Package
from nanocomplete.storage import write_atomic
from nanocomplete.train.examples import (
    DIALECT_WEIGHTS,
    KIND_WEIGHTS,
    Example,
    PackageBuilder,
    Recipe,
    Tokenize,
    language_of,
)
from nanocomplete.train.records import load_examples as load

DATASET_NAME = "data-v1"
DEFAULT_EXAMPLES = 20_000
SHARD_EXAMPLES = 1_000
LANGUAGE_WEIGHTS = {"python": 1.0, "typescript": 2.0, "javascript": 1.0}

__all__ = ["Built", "Example", "Recipe", "build", "default_out_dir", "load", "main", "make_parser", "write"]

# --- the whole set ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    examples: tuple[Example, ...]  # in the shards' (shuffled) order
    manifest: dict


def build(
    packages: Sequence[Package],
    tokenize: Tokenize,
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    recipe: Recipe | None = None,
    cleaner: decontaminate.Decontaminator | None = None,
) -> Built:
    """Sample `examples` examples over `packages` (no I/O: the packages are already read)."""
    recipe = recipe or Recipe()
    pins.check_split()
    for package in packages:
        if package.name in pins.EVAL_NAMES:
            raise sources.SourceError(f"{package.name} is an eval package: it cannot be training data")
    cleaner = cleaner or decontaminate.Decontaminator.humaneval()
    builders = [PackageBuilder(p, tokenize, cleaner, recipe, seed) for p in packages]
    quotas = allocate({b.package.name: (_language(b), len(b.candidates)) for b in builders}, examples)
    chosen = [e for b in builders for e in b.sample(quotas[b.package.name])]
    random.Random(seed).shuffle(chosen)
    manifest = _manifest(builders, chosen, examples, seed, recipe, cleaner)
    return Built(tuple(chosen), manifest)


def allocate(packages: dict[str, tuple[str, int]], total: int) -> dict[str, int]:
    """Shares of `total` by language weight, none above what a package has; leftovers go to the others."""
    quotas = dict.fromkeys(packages, 0)
    remaining, open_ = total, sorted(name for name, (_, count) in packages.items() if count > 0)
    while remaining > 0 and open_:
        weights = {name: LANGUAGE_WEIGHTS.get(packages[name][0], 1.0) for name in open_}
        whole = sum(weights.values())
        given = 0
        for name in list(open_):
            share = max(1, int(remaining * weights[name] / whole))
            give = min(share, packages[name][1] - quotas[name], remaining - given)
            quotas[name] += give
            given += give
            if quotas[name] >= packages[name][1]:
                open_.remove(name)
        remaining -= given
        if given == 0:
            break
    return quotas


def _language(builder: PackageBuilder) -> str:
    """The package's main language (what its share of the examples is weighted by)."""
    kept = Counter(language_of(file) for file in builder.files if not file.dropped)
    return kept.most_common(1)[0][0] if kept else "python"


def _manifest(builders, chosen, requested, seed, recipe, cleaner) -> dict:
    counts: dict = {"examples": len(chosen), "by_language": Counter(), "by_dialect": Counter()}
    counts.update(by_kind={}, context_copy={}, cross_file={}, multi_line={}, by_package=Counter())
    for example in chosen:
        counts["by_language"][example.language] += 1
        counts["by_dialect"][example.dialect] += 1
        counts["by_package"][example.package] += 1
        counts["by_kind"].setdefault(example.language, Counter())[example.kind] += 1
        counts["context_copy"].setdefault(example.language, Counter())[bool(example.copy_names)] += 1
        counts["cross_file"].setdefault(example.language, Counter())[example.cross_file] += 1
        counts["multi_line"].setdefault(example.language, Counter())[example.block_lines > 1] += 1
    for key in ("context_copy", "cross_file", "multi_line"):
        counts[key] = {lang: {"yes": c[True], "no": c[False]} for lang, c in sorted(counts[key].items())}
    return {
        "dataset": DATASET_NAME,
        "seed": seed,
        "examples_requested": requested,
        "model": models.BASE_MODEL,
        "recipe": recipe.to_json(),
        "weights": {"language": LANGUAGE_WEIGHTS, "dialect": DIALECT_WEIGHTS, "kind": KIND_WEIGHTS},
        "format": "JSONL shards; prompt_ids: the server's prompt; target_ids: answer then <|endoftext|>",
        "packages": {
            b.package.name: {**b.facts(), "sampling": dict(sorted(b.counts.items()))} for b in builders
        },
        "counts": _sorted(counts),
        "decontamination": {
            "rule": decontaminate.__doc__.split("\n\n")[1],
            "window_lines": decontaminate.WINDOW_LINES,
            "min_solution_chars": decontaminate.MIN_SOLUTION_CHARS,
            "sources": list(decontaminate.SOURCES),
            "banned_lines": len(cleaner.lines),
            "candidates_dropped": {b.package.name: b.counts["decontaminated"] for b in builders},
            "not_checked": "MBPP (not in the repository's data/)",
        },
    }


def _sorted(value):
    if isinstance(value, dict):
        return {k: _sorted(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return value


# --- files -----------------------------------------------------------------------------------------------


def write(built: Built, out_dir: Path) -> dict:
    """The shards and `manifest.json` (with each shard's SHA-256), each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("train-*.jsonl"):
        old.unlink()
    shards = []
    for number, start in enumerate(range(0, len(built.examples), SHARD_EXAMPLES)):
        lines = [
            json.dumps(e.record(), ensure_ascii=False) for e in built.examples[start : start + SHARD_EXAMPLES]
        ]
        text = "".join(line + "\n" for line in lines)
        name = f"train-{number:05d}.jsonl"
        write_atomic(out_dir / name, text)
        shards.append(
            {"file": name, "examples": len(lines), "sha256": hashlib.sha256(text.encode()).hexdigest()}
        )
    manifest = {**built.manifest, "shards": shards}
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def default_out_dir() -> Path:
    """$NANOCOMPLETE_CACHE_DIR/../train/data-v1, else ~/.cache/nanocomplete/train/data-v1."""
    return models.cache_dir().parent / "train" / DATASET_NAME


def summary(manifest: dict) -> str:
    counts = manifest["counts"]
    rows = [
        f"examples {counts['examples']}: " + ", ".join(f"{k} {v}" for k, v in counts["by_package"].items())
    ]
    for language, kinds in counts["by_kind"].items():
        copies, multi = counts["context_copy"][language], counts["multi_line"][language]
        cross = counts.get("cross_file", {}).get(language, {"yes": 0})  # absent from older manifests
        rows.append(
            f"{language:<10} "
            + ", ".join(f"{k} {v}" for k, v in kinds.items())
            + f"; context copies {copies['yes']}, cross-file lines {cross['yes']}, multi-line {multi['yes']}"
        )
    dropped = manifest["decontamination"]["candidates_dropped"]
    rows.append("decontaminated candidates: " + ", ".join(f"{k} {v}" for k, v in dropped.items()))
    return "\n".join(rows)


# --- command line ----------------------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nanocomplete.train.data", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_ = commands.add_parser("build", help="download the pinned train packages and build the data")
    # where
    build_.add_argument(
        "--out", type=Path, default=None, help=f"output folder (default: {default_out_dir()})"
    )
    # what
    build_.add_argument("--packages", nargs="+", default=None, help="train packages (default: all pinned)")
    build_.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="examples in all")
    build_.add_argument("--seed", type=int, default=0, help="sampling seed")
    build_.add_argument(
        "--standard-layout-share",
        type=float,
        default=Recipe.standard_layout_share,
        help="share of examples in the standard prompt layout; the rest use the server's",
    )
    build_.add_argument(
        "--context-copy-share",
        type=float,
        default=Recipe.context_copy_share,
        help="share of examples whose answer uses a name only the cross-file context shows",
    )
    build_.add_argument(
        "--cross-file-share",
        type=float,
        default=Recipe.cross_file_share,
        help="share of examples whose answer uses a name imported from another file of the package, chosen "
        "first (0: their own share of the candidates; the cross-file benchmark's is two thirds)",
    )
    build_.add_argument(
        "--copy-tries-per-slot",
        type=int,
        default=Recipe.copy_tries_per_slot,
        help="candidates tried per context-copy slot before giving up on the share (24 fills Python's)",
    )
    # how: the prompt budgets (the server's by default; smaller ones make CPU training cheaper)
    from nanocomplete.config import add_settings_flags

    add_settings_flags(build_, ("prompt",))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    if args.copy_tries_per_slot < 0:
        parser.error("--copy-tries-per-slot must be at least 0")
    for name in ("standard_layout_share", "context_copy_share", "cross_file_share"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    out_dir = args.out or default_out_dir()
    started = time.monotonic()
    try:
        chosen = pins.train_pins(args.packages)
        packages = [sources.load_package(pin, out_dir / "archives") for pin in chosen]
    except sources.SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from nanocomplete.engine import Tokenizer

    tokenizer = Tokenizer(models.resolve(models.BASE_MODEL))
    from nanocomplete.config import settings_from_args

    recipe = Recipe(
        prompt=settings_from_args(args, "prompt", SERVING_FULL_PROMPT),
        standard_layout_share=args.standard_layout_share,
        context_copy_share=args.context_copy_share,
        copy_tries_per_slot=args.copy_tries_per_slot,
        cross_file_share=args.cross_file_share,
    )
    built = build(packages, tokenizer.tokenize, args.examples, args.seed, recipe)
    manifest = write(built, out_dir)
    print(summary(manifest))
    print(f"wrote {len(built.examples)} examples to {out_dir} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
