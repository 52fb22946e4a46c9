"""How far llama.cpp's log-probs move with the batch shape, the thread count and the build (docs/numerics.md).

    .venv/bin/python runs/numerics.py [--model NAME] [--examples 40] [--tokens 16] [--out FILE.json]

For each of N HumanEval single-line FIM prompts (a seeded sample, the product's prompt code with the
serving layout), the reference is the engine's own path from an empty KV cache: the prompt in batches of
64, then greedy generation token by token. The same answer is then teacher-forced along these paths:

- `same path`: from an empty cache again, token by token (must be identical: the test suite relies on it);
- `reuse`: the cache still holds prompt + answer, so the prompt's last token is evaluated again alone
  (a batch of 1 where the reference had a batch of up to 64): what the teacher-scoring test does;
- `batched`: the answer in one batch with logits at every position, as a target verifies a draft;
- `batch 512`: a context whose prompt batches are 512 tokens (the prompt in one decode);
- `1 thread`: one thread instead of two;
- `merged`: another model, not another kernel: `--adapter-model`'s merged, re-quantized file against its
  base with the adapter applied at run time (the reference for this row only; `--adapter-model ''` skips).

Per path: the largest and the 99th-percentile |Δ log-prob| of the answer tokens, how many positions
rank another token first, and the reference's top-2 margin at those positions (a flip needs a near-tie).
Name the machine with any number: it prints its CPU flags and the llama.cpp build's features.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from nanocomplete import machine, models, prompt
from nanocomplete.config import SERVING_PROMPT, EngineConfig, GenerationConfig
from nanocomplete.engine import Engine, build_features
from nanocomplete.evals import tasks

TOP_K = 2


def teacher(engine: Engine, prompt_ids, answer, batched=False, reset=True):
    if reset:
        engine.reset()
    ids, values = engine.top_logprobs(prompt_ids, answer, TOP_K, batched=batched)
    return np.array([row[0] for row in ids]), np.array(values), answer


def answer_logprobs(ids, values, answer, reference_ids, reference_values):
    """The variant's log-prob of each answer token: its top-1 value where it ranks the token first, else
    the top-2 value where it ranks it second (a flip), else NaN (moved further, never seen)."""
    out = np.full(len(answer), np.nan)
    for i, token in enumerate(answer):
        if ids[i] == token:
            out[i] = values[i][0]
        elif reference_ids[i] == token:
            out[i] = values[i][1]  # ranked second here: the top-2 token of a near-tie
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=models.BASE_MODEL)
    parser.add_argument("--examples", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adapter-model", default=models.DEFAULT_MODEL)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    path = models.resolve(args.model)
    config = EngineConfig(context_window_tokens=4096, batch_tokens=64, threads=2, kv_shift_min_tokens=0)
    reference = Engine(path, config)
    engines = {
        "batch 512": Engine(path, dataclasses.replace(config, batch_tokens=512)),
        "1 thread": Engine(path, dataclasses.replace(config, threads=1)),
    }
    if args.adapter_model:
        files = models.resolve_files(args.adapter_model)
        merged_path = models.merged_path(models.REGISTRY[args.adapter_model])
        at_run_time = Engine(models.resolve(models.REGISTRY[args.adapter_model].base), config, files.adapter)
        merged = Engine(merged_path, config)
    examples = tasks.examples_for(tasks.get_task("humaneval-fim-single"), args.examples, args.seed)
    paths = (
        "same path",
        "reuse",
        "batched",
        "batch 512",
        "1 thread",
        *(["merged"] if args.adapter_model else []),
    )
    deltas: dict[str, list[float]] = {name: [] for name in paths}
    flips: dict[str, list[float]] = {name: [] for name in paths}
    margins: list[float] = []
    for n, example in enumerate(examples, 1):
        ids = prompt.build(example.fim_input(), reference.tokenize, SERVING_PROMPT).tokens
        reference.reset()
        answer = list(reference.generate(ids, GenerationConfig(max_tokens=args.tokens)).token_ids)
        if not answer:
            continue
        ref_ids, ref_values, _ = teacher(reference, ids, answer)
        margins.extend(ref_values[:, 0] - ref_values[:, 1])
        variants = {
            "same path": teacher(reference, ids, answer),
            "reuse": teacher(reference, ids, answer, reset=False),  # the cache holds prompt + answer
            "batched": teacher(reference, ids, answer, batched=True),
            "batch 512": teacher(engines["batch 512"], ids, answer),
            "1 thread": teacher(engines["1 thread"], ids, answer),
        }
        references = dict.fromkeys(variants, (ref_ids, ref_values))
        if args.adapter_model:
            at_run_time.reset()
            adapted = list(at_run_time.generate(ids, GenerationConfig(max_tokens=args.tokens)).token_ids)
            if adapted:
                references["merged"] = teacher(at_run_time, ids, adapted)[:2]
                variants["merged"] = teacher(merged, ids, adapted)
        for name, (top, values, answered) in variants.items():
            base_ids, base_values = references[name]
            got = answer_logprobs(top, values, answered, base_ids, base_values)
            deltas[name].extend(np.abs(got - base_values[:, 0]))
            flips[name].extend(
                float(base_values[i, 0] - base_values[i, 1]) for i in np.flatnonzero(top != base_ids)
            )
        print(f"{n}/{len(examples)}", file=sys.stderr, end="\r")

    summary = {
        "machine": machine.description(),
        "build": build_features(),
        "model": args.model,
        "adapter_model": args.adapter_model,
        "examples": len(examples),
        "positions": len(margins),
        "smallest_top2_margin": float(min(margins)),
        "paths": {
            name: {
                "max_abs_delta": float(np.nanmax(deltas[name])),
                "p99_abs_delta": float(np.nanpercentile(deltas[name], 99)),
                "median_abs_delta": float(np.nanmedian(deltas[name])),
                "top1_flips": len(flips[name]),
                "margins_at_flips": sorted(flips[name]),
            }
            for name in paths
        },
    }
    print(f"machine: {summary['machine']}\nbuild: {summary['build']}")
    print(f"{summary['examples']} prompts, {summary['positions']} answer positions, model {args.model}\n")
    print("| path | max |Δ log-prob| | p99 | median | top-1 flips (reference margin there) |")
    print("|---|---|---|---|---|")
    for name, row in summary["paths"].items():
        at = ", ".join(f"{m:.4f}" for m in row["margins_at_flips"]) or "–"
        print(
            f"| {name} | {row['max_abs_delta']:.5f} | {row['p99_abs_delta']:.5f} | "
            f"{row['median_abs_delta']:.6f} | {row['top1_flips']} ({at}) |"
        )
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
