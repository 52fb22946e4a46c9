"""Fresh cross-file examples: a larger sample of the same benchmark (same pinned eval packages, same
builder) without any example of the default set, to confirm a configuration on examples that no earlier
study or held-out run has seen.

    .venv/bin/python runs/fresh_crossfile.py ROOT [--per-setting 1200]
    NANOCOMPLETE_CACHE_DIR=ROOT .venv/bin/nanocomplete eval crossfile-python-retrieved ... --limit 200

ROOT becomes a cache folder whose `models` and benchmark `archives` link to the default cache's (nothing
is copied or downloaded), and whose `benchmarks/crossfile-v1/LANG.jsonl` hold only the fresh examples.
"""

import argparse
import dataclasses
import json
from pathlib import Path

from nanocomplete import models
from nanocomplete.corpus import pins, sources
from nanocomplete.evals import crossfile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("--per-setting", type=int, default=1200)
    args = parser.parse_args()
    default = crossfile.default_out_dir()
    out = args.root / "benchmarks" / crossfile.BENCHMARK_NAME
    out.mkdir(parents=True, exist_ok=True)
    for link, target in (
        (args.root / "models", models.cache_dir()),
        (out / "archives", default / "archives"),
    ):
        if not link.exists():
            link.symlink_to(target.resolve(), target_is_directory=True)
    seen = {e.id for language in crossfile.LANGUAGES for e in crossfile.load(default / f"{language}.jsonl")}
    packages = [sources.load_package(pin, default / "archives") for pin in pins.eval_pins(None)]
    built = crossfile.build(packages, args.per_setting, seed=0)
    fresh = [e for e in built.examples if e.id not in seen]
    manifest = {**built.manifest, "fresh": f"the sample without the {len(seen)} examples of {default}"}
    crossfile.write(dataclasses.replace(built, examples=tuple(fresh), manifest=manifest), out)
    counts = {}
    for e in fresh:
        counts[(e.language, e.setting)] = counts.get((e.language, e.setting), 0) + 1
    print(json.dumps({f"{lang} {setting}": n for (lang, setting), n in sorted(counts.items())}, indent=1))


if __name__ == "__main__":
    main()
