"""The teacher's top-k log-probs come from the real engine, teacher-forced along the answer, and are cached."""

import json

import numpy as np
import pytest

from nanocomplete.config import GenerationConfig
from nanocomplete.train import teacher

PROMPT = "def add(a, b):\n    return "


@pytest.mark.model
def test_teacher_forcing_along_the_greedy_answer_ranks_each_greedy_token_first(engine):
    prompt = engine.tokenize(PROMPT)
    greedy = engine.generate(prompt, GenerationConfig(max_tokens=6))
    top_ids, top_logprobs = engine.top_logprobs(prompt, list(greedy.token_ids), top_k=4)
    assert [ids[0] for ids in top_ids] == list(greedy.token_ids)
    assert np.allclose([values[0] for values in top_logprobs], greedy.token_logprobs, atol=1e-3)
    assert all(
        len(ids) == 4 and values == sorted(values, reverse=True)
        for ids, values in zip(top_ids, top_logprobs, strict=True)
    )


@pytest.mark.model
def test_scores_are_cached_and_a_rerun_scores_only_what_is_missing(engine, tmp_path):
    prompt = engine.tokenize(PROMPT)
    rows = [
        {"id": f"ex{i}", "prompt_ids": prompt, "target_ids": engine.tokenize(f"a + b{i}")} for i in range(3)
    ]
    out = tmp_path / "teacher.jsonl"
    assert teacher.score(rows[:2], engine, 3, out, progress=False) == 2
    with open(out, "a") as f:
        f.write('{"id": "ex2", "top_')  # a run killed mid-line
    assert teacher.score(rows, engine, 3, out, progress=False) == 1
    found = teacher.load(out)
    assert sorted(found) == ["ex0", "ex1", "ex2"]
    assert [len(ids) for ids in found["ex1"]["top_ids"]] == [3] * len(rows[1]["target_ids"])
    assert all(json.loads(line) for line in out.read_text().splitlines())
