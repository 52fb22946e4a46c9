"""What reusing KV by shifting costs in quality (the latency issue, items 1 and 3).

At cursors deep in long files, a serving prompt completed twice by the real engine: after the prompt the
cache held before (its runs shifted into place, `kv_shift_min_tokens`), and from an empty cache. Paired
first-line exact match against the file's own next line, how often the two answers are identical, and the
tokens each evaluated. What changed since the cached prompt (`--change`):
- `window`: the prefix window has just moved one anchor step down (the cache a typist leaves: its lines
  shifted left);
- `context`: another file's snippet before the file was replaced by a different one (a return to a file
  whose context the context engine chose anew: the file's tokens shifted, right where the new snippet is
  longer, after the new snippet was evaluated in a second sequence, `kv_shift_after_insertions`).

    .venv/bin/python runs/kv_shift_quality.py --threads 1 [--change context] --out out/bench/kv-shift.json

Cursors: every file of at least --min-prefix-tokens before a line start, from this repository's Python
package and the VS Code extension's TypeScript (code no model here was trained on); seeded."""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from pathlib import Path

from nanocomplete import models
from nanocomplete.completion import Settings, finish, prepare
from nanocomplete.config import SERVING_PROMPT, EngineConfig, GenerationConfig
from nanocomplete.engine import Engine
from nanocomplete.evals.metrics import paired_difference
from nanocomplete.prompt import ExtraFile, FimInput

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("nanocomplete/*.py", "editors/vscode/src/*.ts")


def cursors(tokenize, min_prefix_tokens: int, per_file: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(path, prefix, suffix, the next line) at seeded line starts with enough text before them."""
    rng = random.Random(seed)
    found = []
    for pattern in SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            starts = [0]
            for line in lines:
                starts.append(starts[-1] + len(line))
            text = "".join(lines)
            before = [0]  # tokens before each line, summed line by line (close to the whole text's)
            for line in lines:
                before.append(before[-1] + len(tokenize(line)))
            deep = [i for i in range(len(lines)) if lines[i].strip() and before[i] >= min_prefix_tokens]
            for i in sorted(rng.sample(deep, min(per_file, len(deep)))):
                indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                prefix = text[: starts[i]] + indent
                found.append((str(path.relative_to(ROOT)), prefix, text[starts[i + 1] :], lines[i].strip()))
    return found


def moved_pair(fim_input: FimInput, tokenize, settings: Settings):
    """The prompt at the cursor, and the one with its window one anchor step earlier (the cache's)."""
    now = prepare(fim_input, tokenize, settings)
    anchor = settings.prompt.prefix_anchor_lines
    start = now.prompt.prefix_start_line
    if start < anchor:
        return None
    lines = fim_input.prefix.splitlines(keepends=True)
    extra = len(tokenize("".join(lines[start - anchor : start])))
    wider = dataclasses.replace(
        settings,
        prompt=dataclasses.replace(
            settings.prompt, max_prefix_tokens=settings.prompt.max_prefix_tokens + extra + 16
        ),
    )
    before = prepare(fim_input, tokenize, wider, start - anchor)
    if before.prompt.prefix_start_line != start - anchor:
        return None
    return before, now


def context_pair(fim_input: FimInput, tokenize, settings: Settings, rng: random.Random):
    """The prompt at the cursor with one other file's snippet before it, and the cache's: the same with
    another file's snippet (each the first 20-60 lines of a seeded other source file of the repository)."""
    others = [
        p
        for pattern in SOURCES
        for p in sorted(ROOT.glob(pattern))
        if str(p.relative_to(ROOT)) != fim_input.path
    ]
    snippets = []
    for path in rng.sample(others, 2):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        snippets.append(ExtraFile(str(path.relative_to(ROOT)), "".join(lines[: rng.randint(20, 60)])))
    before, now = (
        prepare(dataclasses.replace(fim_input, extra_files=(s,)), tokenize, settings) for s in snippets
    )
    return before, now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=models.DEFAULT_MODEL)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kv-shift-min-tokens", type=int, default=32)
    parser.add_argument("--min-prefix-tokens", type=int, default=1400)
    parser.add_argument("--per-file", type=int, default=4)
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--change", choices=("window", "context"), default="window")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    config = EngineConfig(threads=args.threads, batch_tokens=64, kv_shift_min_tokens=args.kv_shift_min_tokens)
    engine = Engine.for_model(args.model, config)
    settings = Settings(prompt=SERVING_PROMPT, generation=GenerationConfig(max_tokens=32))
    rows = []
    for path, prefix, suffix, truth in cursors(
        engine.tokenize, args.min_prefix_tokens, args.per_file, args.seed
    ):
        if len(rows) >= args.limit:
            break
        fim_input = FimInput(prefix, suffix, path)
        if args.change == "window":
            pair = moved_pair(fim_input, engine.tokenize, settings)
        else:
            pair = context_pair(fim_input, engine.tokenize, settings, rng)
        if pair is None:
            continue
        before, now = pair
        engine.reset()
        engine.prefill(before.prompt.tokens)
        shifted = engine.generate(now.prompt.tokens, settings.generation, required_start=now.prompt.healed)
        engine.reset()
        fresh = engine.generate(now.prompt.tokens, settings.generation, required_start=now.prompt.healed)
        answers = [finish(now, g, settings).text.split("\n")[0].strip() for g in (shifted, fresh)]
        rows.append({
            "path": path, "truth": truth, "shifted": answers[0], "fresh": answers[1],
            "shifted_evaluated": shifted.timings.prompt_tokens_evaluated,
            "fresh_evaluated": fresh.timings.prompt_tokens_evaluated,
            "prompt_tokens": len(now.prompt.tokens),
        })  # fmt: skip
        if args.out:  # as it goes: a stopped run keeps its rows
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.with_suffix(".rows.jsonl").open("a", encoding="utf-8") as out:
                out.write(json.dumps(rows[-1]) + "\n")
        row = rows[-1]
        print(f"{len(rows):3d} {path}: evaluated {row['shifted_evaluated']} / {row['fresh_evaluated']}"
              f"  same={answers[0] == answers[1]}", flush=True)  # fmt: skip
    em = {arm: [float(r[arm] == r["truth"]) for r in rows] for arm in ("shifted", "fresh")}
    summary = {
        "change": args.change,
        "samples": len(rows),
        "exact_match": {arm: sum(v) / len(v) for arm, v in em.items()},
        "shifted_minus_fresh": paired_difference(em["fresh"], em["shifted"]),
        "identical_answers": sum(r["shifted"] == r["fresh"] for r in rows) / len(rows),
        "evaluated_median": {
            arm: sorted(r[f"{arm}_evaluated"] for r in rows)[len(rows) // 2] for arm in ("shifted", "fresh")
        },
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
