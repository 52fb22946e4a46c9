"""What machine a number came from: the CPU's model and the SIMD instruction sets llama.cpp's kernels use.

Absolute speeds and floating-point agreement both depend on them (an AVX-512 and an AVX2-only x86 CPU run
different kernels, docs/numerics.md), so benchmarks, measurement scripts and the test suite's header name
them. Reads /proc/cpuinfo (Linux); elsewhere only the architecture is known. The llama.cpp build's own
features are `engine.build_features()`.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The /proc/cpuinfo flags that select ggml's x86 kernels (scripts/install_llama_cpp.sh builds for them)
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni",
    "avx512f", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vnni", "avx512_bf16",
    "amx_tile", "amx_int8", "amx_bf16",
)  # fmt: skip

CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(name: str) -> str | None:
    try:
        text = CPUINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC"), or the architecture where the OS does not say."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def simd_flags() -> tuple[str, ...] | None:
    """Which of SIMD_FLAGS this CPU has, in SIMD_FLAGS order; None where /proc/cpuinfo is not readable."""
    flags = _cpuinfo_field("flags")
    if flags is None:
        return None
    present = set(flags.split())
    return tuple(flag for flag in SIMD_FLAGS if flag in present)


def simd_summary() -> str:
    """One line for a report: "avx avx2 fma f16c bmi2 sse4_2 (no AVX-512)"."""
    flags = simd_flags()
    if flags is None:
        return f"{platform.machine()} (SIMD flags unknown: no {CPUINFO})"
    avx512 = "" if "avx512f" in flags else " (no AVX-512)"
    return " ".join(flags) + avx512


def description() -> str:
    """OS, architecture, CPU model and its SIMD flags, logical CPU count, Python version."""
    return (
        f"{platform.system()} {platform.machine()}, {cpu_model()} [{simd_summary()}], "
        f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}"
    )
