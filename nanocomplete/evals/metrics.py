"""Metrics (pure). Each function states the protocol it follows.

- Qwen FIM protocol (HumanEval infilling EM/ES, comparable with the Qwen2.5-Coder report): take the first
  line of the generation (the line after it when the generation starts with a newline), strip both
  sides; EM = equal to the stripped reference line, ES = `fuzz.ratio`-style similarity in [0, 1].
- RepoBench next-line: the prediction is the first non-empty, non-comment line; EM = equal
  whitespace-split tokens; ES as above; identifier match = the identifiers in order (exact) and their F1.
- Confidence intervals: Wilson for proportions, percentile bootstrap for means; 95%.
- Latency: p95 by nearest rank.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz

IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
COMMENT_PREFIXES = {"python": ("#",), "typescript": ("//", "/*", "*"), "javascript": ("//", "/*", "*")}
Z_95 = 1.959963984540054


def qwen_first_line(generation: str) -> str:
    """The first line of a generation, or the line after a leading newline, stripped."""
    lines = generation.split("\n")
    if len(lines) > 1 and lines[0].strip() == "":
        return lines[1].strip()
    return lines[0].strip()


def first_code_line(generation: str, language: str) -> str:
    """The first non-empty line that is not a comment, stripped ("" if none)."""
    prefixes = COMMENT_PREFIXES.get(language, ("#", "//"))
    for line in generation.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith(prefixes):
            return stripped
    return ""


def exact_match(prediction: str, reference: str) -> float:
    return float(prediction.strip() == reference.strip())


def token_exact_match(prediction: str, reference: str) -> float:
    """Equality of whitespace-split tokens (RepoBench EM)."""
    return float(prediction.split() == reference.split())


def edit_similarity(prediction: str, reference: str) -> float:
    """Normalised Indel similarity (rapidfuzz's `fuzz.ratio`) in [0, 1]; two empty strings score 1."""
    return fuzz.ratio(prediction, reference) / 100.0


def identifiers(text: str) -> list[str]:
    return IDENTIFIER.findall(text)


def identifier_exact_match(prediction: str, reference: str) -> float:
    return float(identifiers(prediction) == identifiers(reference))


def identifier_f1(prediction: str, reference: str) -> float:
    predicted, expected = Counter(identifiers(prediction)), Counter(identifiers(reference))
    if not predicted and not expected:
        return 1.0
    overlap = sum((predicted & expected).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(predicted.values())
    recall = overlap / sum(expected.values())
    return 2 * precision * recall / (precision + recall)


def wilson_interval(successes: float, total: int) -> tuple[float, float]:
    """95% Wilson score interval for a proportion."""
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    z2 = Z_95**2
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = Z_95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total**2)) / (1 + z2 / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_interval(values: Sequence[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval for a mean."""
    if len(values) == 0:
        return (0.0, 0.0)
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


def mean_with_interval(values: Sequence[float]) -> dict[str, float]:
    """Mean and 95% interval: Wilson when every value is 0 or 1, bootstrap otherwise."""
    n = len(values)
    mean = float(np.mean(values)) if n else 0.0
    binary = all(v in (0.0, 1.0) for v in values)
    low, high = wilson_interval(sum(values), n) if binary else bootstrap_interval(values)
    return {"mean": mean, "low": low, "high": high, "n": n}


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank (the value at index 0.95·n of the sorted values), as every
    latency table here reports it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def paired_difference(
    a: Sequence[float], b: Sequence[float], resamples: int = 5000, seed: int = 0
) -> dict[str, float]:
    """Mean of b - a over paired examples, with a 95% percentile bootstrap interval (resampling pairs),
    and how many pairs each side wins."""
    if len(a) != len(b) or not a:
        raise ValueError("paired_difference needs two non-empty lists of the same length")
    differences = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), size=(resamples, len(differences)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "difference": float(differences.mean()),
        "low": float(low),
        "high": float(high),
        "n": len(differences),
        "a_wins": int((differences < 0).sum()),
        "b_wins": int((differences > 0).sum()),
    }
