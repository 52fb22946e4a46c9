"""Prompt evaluation speed by tensor type: the served model re-quantized whole to one llama.cpp type.

Prompt tokens evaluated are the currency (docs/performance.md), and how fast the CPU evaluates them depends
on the weights' tensor types: llama.cpp's x86 kernels differ by type (llamafile's tinyBLAS for Q8_0, Q4_0,
Q5_0 and BF16; repacked 8x8 kernels for Q4_0 and Q4_K; row dot products for the rest). The served
nanocomplete-0.5b keeps the offline base's mix (mostly Q5_0, K-quant `ffn_down`, Q8_0 `attn_v`).

`build` writes each variant next to the source, by llama.cpp's own quantizer from the served merged file
(`allow_requantize`: what the file holds is what gets re-quantized, so the variants carry its rounding and
their own). `speed` times each model and the source alternately in one process, at one thread by default:
a cold prompt of N real-code tokens (llama-cpp-python's `llama.py`, as `bench engine`), the median over
`--repeats`, and writes the ratio to the source's time per repeat (paired by repeat, so load from other
processes affects both sides alike). Quality is not measured here: `nanocomplete eval he-fim-single
--model PATH` on the same tasks, then `nanocomplete compare`.

Usage:
  .venv/bin/python runs/tensor_types.py build --types Q8_0 Q4_0 BF16
  .venv/bin/python runs/tensor_types.py speed --types Q8_0 Q4_0 BF16 --prompt-tokens 512 2048 --repeats 5
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import time
from pathlib import Path

from nanocomplete import machine, models
from nanocomplete.config import EngineConfig
from nanocomplete.engine import Engine
from nanocomplete.merge import quantizer_log

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "tensor-types"


def source_model() -> Path:
    """The served model's merged GGUF (what `make run` serves)."""
    spec = models.REGISTRY[models.DEFAULT_MODEL]
    path = models.merged_path(spec)
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `nanocomplete pull` first")
    return path


def variant_path(kind: str) -> Path:
    return OUT / f"{models.DEFAULT_MODEL}-{kind.lower()}.gguf"


def build(kinds: list[str], threads: int) -> None:
    import llama_cpp

    OUT.mkdir(parents=True, exist_ok=True)
    source = source_model()
    for kind in kinds:
        target = variant_path(kind)
        if target.is_file():
            print(f"{target} exists")
            continue
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
        params.nthread = threads
        params.allow_requantize = True
        partial = target.with_suffix(".partial")
        started = time.perf_counter()
        with quantizer_log(0, False, False) as log:
            failed = llama_cpp.llama_model_quantize(
                str(source).encode(), str(partial).encode(), ctypes.byref(params)
            )
        if failed:
            raise SystemExit(f"{kind}: {''.join(log[-5:])}")
        partial.replace(target)
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
    seconds: dict[str, dict[int, list[float]]] = {name: {n: [] for n in prompt_tokens} for name in engines}
    for n in prompt_tokens:
        for _ in range(repeats):
            for name, engine in engines.items():  # alternating: a slow moment hits every model alike
                seconds[name][n].append(time_prompt(engine, engine.tokenize(text)[:n]))
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
    parser.add_argument("--types", nargs="+", default=["Q8_0", "Q4_0", "BF16"])
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
