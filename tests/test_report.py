"""The Markdown report: tables with intervals and plots, from scored run directories."""

import json

from nanocomplete.evals import report
from nanocomplete.evals.score import summarise


def make_run(run_dir, task, model, settings):
    run_dir.mkdir()
    config = {
        "task": task,
        "model": model,
        "cursor": "line-start",
        "prompt": {"current_line_after_middle": False},
    }
    results, samples = [], []
    for i, (setting, em, prompt_tokens) in enumerate(settings):
        results.append(
            {"id": str(i), "setting": setting, "bucket": "<512" if prompt_tokens < 512 else "512-1023", "error": None,
             "scores": {"em": em, "es": 0.5 + em / 2}}
        )  # fmt: skip
        timings = {"prompt_ms": 100.0 + i, "generation_ms": 50.0, "prompt_tokens": prompt_tokens}
        samples.append(
            {"id": str(i), "timings": {**timings, "prompt_tokens_evaluated": 10, "tokens_generated": 4}}
        )
    (run_dir / "summary.json").write_text(json.dumps(summarise(config, results, samples)))
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return run_dir


def test_report_has_a_row_per_run_group_tables_and_plots(tmp_path):
    rows = [
        ("cross_file_first", 1.0, 300),
        ("cross_file_first", 0.0, 700),
        ("in_file", 1.0, 800),
        ("in_file", 1.0, 100),
    ]
    first = make_run(tmp_path / "a", "crossfile-python", "m1", rows)
    second = make_run(tmp_path / "b", "crossfile-python-oracle", "m1", rows[:2])
    out = tmp_path / "report" / "report.md"
    report.write([first, second], out)
    text = out.read_text()
    assert "| crossfile-python · m1 · line-start · standard | 4 | 0.750 [" in text
    assert "| crossfile-python-oracle · m1 · line-start · standard | 2 | 0.500 [" in text
    assert "| cross_file_first | 2 |" in text and "| in_file | 2 |" in text
    for image in ("report-by_setting-em.png", "report-by_bucket-em.png", "report-latency.png"):
        assert (out.parent / image).stat().st_size > 1000
        assert f"({image})" in text


def test_gate_tradeoff_counts_what_a_threshold_would_show(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    samples = [
        {"id": "a", "completion": "x", "mean_logprob": -0.1},
        {"id": "b", "completion": "y", "mean_logprob": -0.6},
        {"id": "c", "completion": "z", "mean_logprob": -1.6},
        {"id": "d", "completion": "", "mean_logprob": None},  # nothing shown: not counted
    ]
    results = [
        {"id": i, "error": None, "scores": {"em": em}}
        for i, em in zip("abcd", (1.0, 1.0, 0.0, 0.0), strict=True)
    ]
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    rows = {row["min_mean_logprob"]: row for row in report.gate_tradeoff([run], "em")}
    assert (rows[-99.0]["shown"], rows[-99.0]["em"]) == (3, 2 / 3)
    assert (rows[-1.5]["shown"], rows[-1.5]["em"], rows[-1.5]["good_kept_share"]) == (2, 1.0, 1.0)
    assert (rows[-0.5]["shown"], rows[-0.5]["good_kept_share"]) == (1, 0.5)


def write_results(run_dir, ems):
    run_dir.mkdir()
    rows = [{"id": f"ex{i}", "error": None, "scores": {"em": em}} for i, em in enumerate(ems)]
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


def test_compare_pools_the_pairs_of_several_runs_per_side(tmp_path):
    # a test sample and a held-out sample: the same ids in both halves must not collapse into one
    test_a, test_b = write_results(tmp_path / "ta", [0, 0, 1]), write_results(tmp_path / "tb", [1, 0, 1])
    held_a, held_b = write_results(tmp_path / "ha", [0, 1]), write_results(tmp_path / "hb", [1, 1])
    pooled = report.compare([test_a, held_a], [test_b, held_b], "em")
    assert pooled["n"] == 5 and pooled["b_wins"] == 2 and pooled["a_wins"] == 0
    assert pooled["difference"] == 2 / 5
    assert report.compare([test_a], [test_b], "em")["n"] == 3


def test_compare_on_the_command_line_pools_comma_joined_runs(tmp_path):
    import subprocess
    import sys

    a = [write_results(tmp_path / name, ems) for name, ems in (("a1", [0, 1]), ("a2", [0]))]
    b = [write_results(tmp_path / name, ems) for name, ems in (("b1", [1, 1]), ("b2", [1]))]
    command = [sys.executable, "-m", "nanocomplete", "compare", f"{a[0]},{a[1]}", f"{b[0]},{b[1]}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "n=3" in result.stdout and "B better on 2" in result.stdout
    lopsided = subprocess.run([*command[:-1], str(b[0])], capture_output=True, text=True, timeout=120)
    assert lopsided.returncode != 0 and "side B" in lopsided.stderr
    (tmp_path / "running").mkdir()  # a run still generating: no results yet
    unscored = subprocess.run(
        [*command[:-2], str(a[0]), str(tmp_path / "running")], capture_output=True, text=True, timeout=120
    )
    assert unscored.returncode != 0 and "no results.jsonl in" in unscored.stderr
    assert "Traceback" not in unscored.stderr
