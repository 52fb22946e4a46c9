"""The evaluation runner with the real 0.5B: samples through the product path, resumable, then scored."""

import json

import pytest

from nanocomplete.config import EngineConfig, PromptConfig
from nanocomplete.errors import NanocompleteError
from nanocomplete.evals import runner
from nanocomplete.evals.tasks import get_task

TASK = get_task("humaneval-fim-single")


def spec(limit=3, seed=0, **prompt):
    return runner.RunSpec(
        "humaneval-fim-single",
        "qwen2.5-coder-0.5b-instruct",
        limit,
        seed,
        "line-start",
        PromptConfig(**prompt),
        EngineConfig(),
    )


def read_samples(run_dir):
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_a_run_writes_one_sample_per_example_with_timings_and_confidence(model_path, tmp_path):
    runner.generate(spec(), TASK, tmp_path, progress=False)
    samples = read_samples(tmp_path)
    assert len(samples) == 3 and len({s["id"] for s in samples}) == 3
    for sample in samples:
        assert sample["timings"]["prompt_tokens"] > 0 and sample["timings"]["tokens_generated"] > 0
        assert set(sample["prompt"]) == {"context_tokens", "prefix_tokens", "suffix_tokens"}
        assert sample["raw"].startswith(sample["completion"].rstrip()) or not sample["completion"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["generation"]["max_tokens"] == 64 and len(config["model_sha256"]) == 64


def test_an_interrupted_run_resumes_without_repeating_or_corrupting(model_path, tmp_path):
    runner.generate(spec(limit=2), TASK, tmp_path, progress=False)
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    # the process died while writing the second line
    (tmp_path / "samples.jsonl").write_text(lines[0] + "\n" + lines[1][:20])
    runner.generate(spec(limit=2), TASK, tmp_path, progress=False)
    samples = read_samples(tmp_path)
    assert [s["id"] for s in samples] == [json.loads(line)["id"] for line in lines]


def test_a_directory_holding_another_run_is_refused(model_path, tmp_path):
    runner.generate(spec(limit=1), TASK, tmp_path, progress=False)
    with pytest.raises(NanocompleteError, match="different run"):
        runner.generate(spec(limit=1, max_prefix_tokens=64), TASK, tmp_path, progress=False)


def test_scoring_in_a_separate_process_writes_results_and_summary(model_path, tmp_path):
    runner.generate(spec(limit=3), TASK, tmp_path, progress=False)
    summary = runner.score_in_subprocess(tmp_path)
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(results) == 3 and summary["n"] == 3
    assert set(summary["overall"]) == {"pass", "em", "es", "strict_em"}
    for value in summary["overall"].values():
        assert value["low"] <= value["mean"] <= value["high"]
    assert summary["latency"]["total_ms_p50"] > 0


def test_a_held_out_run_samples_and_scores_only_examples_outside_the_test_sample(model_path, tmp_path):
    test_set = {e.id for e in runner.examples_for(TASK, 150, 0)}
    held_out = runner.dataclasses.replace(spec(limit=2), leave_out=150)
    runner.generate(held_out, TASK, tmp_path, progress=False)
    summary = runner.score_in_subprocess(tmp_path)
    ids = {s["id"] for s in read_samples(tmp_path)}
    assert len(ids) == 2 and not ids & test_set and summary["n"] == 2
    assert json.loads((tmp_path / "config.json").read_text())["leave_out"] == 150
    with pytest.raises(NanocompleteError, match="different run"):  # the test sample's run is another run
        runner.generate(spec(limit=2), TASK, tmp_path, progress=False)


def test_benchmark_examples_get_their_files_header_though_their_prefix_holds_only_its_end(tokenizer):
    from nanocomplete import prompt
    from nanocomplete.config import ContextConfig
    from nanocomplete.evals.tasks import Example
    from nanocomplete.workspace import Workspace

    file_lines = ["import os", "from shop.db import connect", ""] + [f"x_{i} = {i}" for i in range(400)]
    text = "\n".join([*file_lines, "conn = connect()", ""])
    workspace = Workspace()
    workspace.add("shop/app.py", text)
    target = len(file_lines)
    example = Example(  # the benchmark's prefix: the last 300 lines before the target line
        "shop/app.py:403", "\n".join(file_lines[target - 300 :]) + "\n", "\n", "conn = connect()",
        "python", "shop/app.py", "shop", meta={"package": "shop", "line": target},
    )  # fmt: skip
    provider = runner.RetrievedContext(
        "retrieved", ContextConfig(context_sources="header"), tokenizer.tokenize, 512,
        packages=lambda package: (workspace, {"shop/app.py": text}),
    )  # fmt: skip
    with_header, _ = provider(example)
    assert with_header.header == ((-103, "import os"), (-102, "from shop.db import connect"))
    built = prompt.build(with_header.fim_input(), tokenizer.tokenize, PromptConfig(max_prefix_tokens=256))
    start = built.context_tokens + 1  # after the repo name, the path and <|fim_prefix|>
    shown = tokenizer.detokenize(built.tokens[start : start + built.prefix_tokens])
    assert shown.startswith("import os\nfrom shop.db import connect\nx_")
