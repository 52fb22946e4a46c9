"""Prompt evaluation speed by tensor type: the served adapter merged into weights of one llama.cpp type.

Prompt tokens evaluated are the currency (docs/performance.md), and how fast the CPU evaluates them depends
on the weights' tensor types: llama.cpp's CPU kernels differ by type (some 4-bit types are repacked at load
into interleaved layouts with matrix kernels of their own). The served nanocomplete-0.5b keeps the offline
base's mix (mostly Q5_0, K-quant `ffn_down`, Q8_0 `attn_v`).

`build` writes each variant as `nanocomplete pull` would (`ModelSpec.tensor_type`): the committed adapter
merged into the offline base and quantized once to the type by llama.cpp's quantizer (`merge.merge`).
`speed` times each variant and the served model alternately in one process, at one thread by default: a
cold prompt of N real-code tokens (llama-cpp-python's `llama.py`, as `bench engine`) at the serving batch
size, the median over `--repeats`, and the ratio to the served model's time per repeat (paired by repeat,
so load from other processes affects both sides alike). Quality is not measured here: `nanocomplete eval
... --model out/tensor-types/FILE` on the same tasks, then `nanocomplete compare`.

Usage:
  .venv/bin/python runs/tensor_types.py build --types IQ4_NL Q4_0 Q8_0 BF16
  .venv/bin/python runs/tensor_types.py speed --types IQ4_NL Q4_0 Q8_0 BF16 --prompt-tokens 512 2048
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from nanocomplete import machine, models
from nanocomplete.config import EngineConfig
from nanocomplete.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "tensor-types"


def source_model() -> Path:
    """The served model's merged GGUF (what `make run` serves: the base's Q4_K_M scheme)."""
    spec = models.REGISTRY[models.DEFAULT_MODEL]
    path = models.merged_path(spec)
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `nanocomplete pull` first")
    return path


def variant_path(kind: str) -> Path:
    return OUT / f"{models.DEFAULT_MODEL}-{kind.lower()}.gguf"


def build(kinds: list[str], threads: int) -> None:
    from nanocomplete import merge

    OUT.mkdir(parents=True, exist_ok=True)
    spec = models.REGISTRY[models.DEFAULT_MODEL]
    base, adapter = models.resolve(models.BASE_MODEL), models.ADAPTER_DIR / spec.adapter
    for kind in kinds:
        target = variant_path(kind)
        if target.is_file():
            print(f"{target} exists")
            continue
        started = time.perf_counter()
        merge.merge(base, adapter, target, threads=threads, progress=True, tensor_type=kind)
        mb = target.stat().st_size / 2**20
        print(f"{target}: {mb:.0f} MiB in {time.perf_counter() - started:.0f} s")


def prompt_text() -> str:
    import llama_cpp

    return (Path(llama_cpp.__file__).parent / "llama.py").read_text()


def time_prompt(engine: Engine, tokens: list[int]) -> float:
    engine.reset()
    started = time.perf_counter()
    engine.prefill(tokens)
    return time.perf_counter() - started


def speed(kinds: list[str], prompt_tokens: list[int], repeats: int, threads: int, out: Path) -> None:
    paths = {"source": source_model(), **{kind: variant_path(kind) for kind in kinds}}
    config = EngineConfig(threads=threads)
    engines = {name: Engine(path, config) for name, path in paths.items()}
    text = prompt_text()
    tokens = {name: engine.tokenize(text) for name, engine in engines.items()}  # once, not per repeat
    seconds: dict[str, dict[int, list[float]]] = {name: {n: [] for n in prompt_tokens} for name in engines}
    for n in prompt_tokens:
        for _ in range(repeats):
            for name, engine in engines.items():  # alternating: a slow moment hits every model alike
                seconds[name][n].append(time_prompt(engine, tokens[name][:n]))
    rows = []
    for n in prompt_tokens:
        base = seconds["source"][n]
        for name in engines:
            taken = seconds[name][n]
            ratios = [b / s for b, s in zip(base, taken, strict=True)]
            rows.append(
                {
                    "model": name,
                    "file": paths[name].name,
                    "mib": round(paths[name].stat().st_size / 2**20),
                    "prompt_tokens": n,
                    "tokens_per_s": round(n / statistics.median(taken), 1),
                    "speedup_vs_source": round(statistics.median(ratios), 3),
                    "speedup_min_max": [round(min(ratios), 3), round(max(ratios), 3)],
                    "seconds": [round(s, 3) for s in taken],
                }
            )
    record = {"machine": machine.description(), "threads": threads, "repeats": repeats, "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(record["machine"])
    print("| model | MiB | prompt tokens | tokens/s | speed-up vs source (median, min–max over repeats) |")
    print("|---|---|---|---|---|")
    for r in rows:
        low, high = r["speedup_min_max"]
        print(
            f"| {r['model']} | {r['mib']} | {r['prompt_tokens']} | {r['tokens_per_s']} | "
            f"{r['speedup_vs_source']} ({low}–{high}) |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=("build", "speed"))
    parser.add_argument("--types", nargs="+", default=["IQ4_NL", "Q4_0", "Q8_0", "BF16"])
    parser.add_argument("--prompt-tokens", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT / "speed.json")
    args = parser.parse_args()
    if args.step == "build":
        build(args.types, max(args.threads, 1))
    else:
        speed(args.types, args.prompt_tokens, args.repeats, args.threads, args.out)


if __name__ == "__main__":
    main()
