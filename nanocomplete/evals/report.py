"""A Markdown report from scored run directories: one table row per run (every metric with its 95%
interval, latency), per-setting and per-bucket tables, and plots beside the report (score by setting, score
by prompt-length bucket, latency distribution).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HEADLINE = {"fim_exec": "pass", "l2r_exec": "pass", "next_line": "em"}


def write(run_dirs: list[Path], out: Path) -> None:
    runs = [_load(run_dir) for run_dir in run_dirs]
    out.parent.mkdir(parents=True, exist_ok=True)
    sections = ["# Evaluation report", "", _overall_table(runs)]
    grouped = [r for r in runs if r["summary"]["by_setting"]]
    if grouped:
        sections += ["", "## By setting", "", _group_table(grouped, "by_setting")]
        sections += ["", f"![EM by setting]({_plot_groups(grouped, 'by_setting', out, 'em').name})"]
    bucketed = [r for r in runs if len(r["summary"]["by_bucket"]) > 1]
    if bucketed:
        metric = "em" if all("em" in r["summary"]["overall"] for r in bucketed) else "pass"
        sections += ["", "## By prompt length (tokens)", "", _group_table(bucketed, "by_bucket")]
        sections += [
            "",
            f"![{metric} by prompt length]({_plot_groups(bucketed, 'by_bucket', out, metric).name})",
        ]
    sections += ["", "## Latency", "", f"![latency]({_plot_latency(runs, out).name})", ""]
    out.write_text("\n".join(sections))


def _load(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    samples = _jsonl(run_dir / "samples.jsonl")
    return {"dir": run_dir, "summary": summary, "samples": samples, "label": _label(summary)}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _label(summary: dict) -> str:
    return f"{summary['task']} · {summary['model']} · {summary['cursor']} · {summary['layout']}"


def _cell(value: dict) -> str:
    return f"{value['mean']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


def _overall_table(runs: list[dict]) -> str:
    names = sorted({name for r in runs for name in r["summary"]["overall"]})
    rows = [
        "| run | n | " + " | ".join(names) + " | p50 ms | p95 ms | prompt tokens evaluated (median) |",
        "|---|---|" + "---|" * len(names) + "---|---|---|",
    ]
    for run in runs:
        summary, latency = run["summary"], run["summary"]["latency"]
        cells = [_cell(summary["overall"][n]) if n in summary["overall"] else "" for n in names]
        rows.append(
            f"| {run['label']} | {summary['n']} | "
            + " | ".join(cells)
            + f" | {latency.get('total_ms_p50', 0):.0f} | "
            f"{latency.get('total_ms_p95', 0):.0f} | {latency.get('prompt_tokens_evaluated_median', 0):.0f} |"
        )
    return "\n".join(rows)


def _group_table(runs: list[dict], key: str) -> str:
    rows = ["| run | group | n | metrics (mean [95% CI]) |", "|---|---|---|---|"]
    for run in runs:
        for group, values in run["summary"][key].items():
            n = next(iter(values.values()))["n"] if values else 0
            cells = ", ".join(f"{name} {_cell(v)}" for name, v in values.items())
            rows.append(f"| {run['label']} | {group} | {n} | {cells} |")
    return "\n".join(rows)


def _plot_groups(runs: list[dict], key: str, out: Path, metric: str) -> Path:
    groups = sorted({g for r in runs for g in r["summary"][key]})
    width = 0.8 / len(runs)
    figure, axis = plt.subplots(figsize=(8, 4))
    for index, run in enumerate(runs):
        values = [run["summary"][key].get(g, {}).get(metric) for g in groups]
        means = [v["mean"] if v else 0 for v in values]
        errors = [
            [v["mean"] - v["low"] if v else 0 for v in values],
            [v["high"] - v["mean"] if v else 0 for v in values],
        ]
        positions = [i + index * width for i in range(len(groups))]
        axis.bar(positions, means, width, yerr=errors, capsize=3, label=run["label"])
    axis.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(groups))], groups)
    axis.set_ylabel(metric)
    axis.legend(fontsize=6)
    return _save(figure, out, f"{key}-{metric}")


def _plot_latency(runs: list[dict], out: Path) -> Path:
    figure, axis = plt.subplots(figsize=(8, 4))
    for run in runs:
        totals = sorted(
            s["timings"]["prompt_ms"] + s["timings"]["generation_ms"]
            for s in run["samples"]
            if "timings" in s
        )
        if totals:
            axis.plot(totals, [(i + 1) / len(totals) for i in range(len(totals))], label=run["label"])
    axis.set_xscale("log")
    axis.set_xlabel("completion latency (ms, prompt + generation)")
    axis.set_ylabel("fraction of requests")
    axis.legend(fontsize=6)
    return _save(figure, out, "latency")


def _save(figure, out: Path, name: str) -> Path:
    path = out.with_name(f"{out.stem}-{name}.png")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def compare(runs_a: Sequence[Path], runs_b: Sequence[Path], metric: str) -> dict:
    """Paired comparison of scored runs on the examples both sides have: b - a. Several runs per side
    pool their pairs (A1 with B1, A2 with B2, ...): a test sample and its held-out sample, for example."""
    from nanocomplete.evals.metrics import paired_difference

    def scores(run_dir: Path) -> dict[str, float]:
        return {r["id"]: r["scores"][metric] for r in _jsonl(run_dir / "results.jsonl") if not r["error"]}

    a_values, b_values = [], []
    for run_a, run_b in zip(runs_a, runs_b, strict=True):
        a, b = scores(run_a), scores(run_b)
        shared = sorted(set(a) & set(b))
        a_values += [a[i] for i in shared]
        b_values += [b[i] for i in shared]
    return paired_difference(a_values, b_values)


GATE_THRESHOLDS = (-99.0, -2.0, -1.5, -1.0, -0.75, -0.7, -0.6, -0.5, -0.4, -0.3, -0.2)


def gate_tradeoff(run_dirs: list[Path], metric: str) -> list[dict]:
    """If completions whose mean token log-prob is below a threshold were not shown: how many would be
    shown, and how good (mean `metric`, an acceptance proxy) the shown ones are."""
    pairs = []
    for run_dir in run_dirs:
        samples = {sample["id"]: sample for sample in _jsonl(run_dir / "samples.jsonl")}
        for result in _jsonl(run_dir / "results.jsonl"):
            sample = samples[result["id"]]
            if not result["error"] and sample.get("completion") and sample.get("mean_logprob") is not None:
                pairs.append((sample["mean_logprob"], result["scores"][metric]))
    rows = []
    for threshold in GATE_THRESHOLDS:
        kept = [score for logprob, score in pairs if logprob >= threshold]
        rows.append(
            {
                "min_mean_logprob": threshold,
                "shown": len(kept),
                "shown_share": len(kept) / len(pairs) if pairs else 0.0,
                metric: sum(kept) / len(kept) if kept else 0.0,
                "good_kept_share": sum(kept) / max(1e-9, sum(score for _, score in pairs)),
            }
        )
    return rows
