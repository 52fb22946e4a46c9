"""The teacher's top-k log-probs come from the real engine, teacher-forced along the answer, and are cached."""

import json

import numpy as np
import pytest
from numerics import BATCH_SHAPE_LOGPROB_NATS, CLEAR_MARGIN_NATS

from nanocomplete.config import GenerationConfig
from nanocomplete.train import teacher

PROMPT = "def add(a, b):\n    return "


def greedy_answer(engine):
    """The prompt, and the greedy answer generated from an empty KV cache (prompt batched, then token by
    token)."""
    prompt = engine.tokenize(PROMPT)
    engine.reset()
    return prompt, engine.generate(prompt, GenerationConfig(max_tokens=6))


@pytest.mark.model
def test_teacher_forcing_from_an_empty_cache_reproduces_generation_exactly(engine):
    # the same path: the same batches, the same kernels, the same thread count, so identical floats
    prompt, greedy = greedy_answer(engine)
    engine.reset()
    top_ids, top_logprobs = engine.top_logprobs(prompt, list(greedy.token_ids), top_k=4)
    assert [ids[0] for ids in top_ids] == list(greedy.token_ids)
    assert [values[0] for values in top_logprobs] == list(greedy.token_logprobs)
    assert all(
        len(ids) == 4 and values == sorted(values, reverse=True)
        for ids, values in zip(top_ids, top_logprobs, strict=True)
    )


@pytest.mark.model
@pytest.mark.parametrize("path", ["kv_reuse", "batched"])
def test_teacher_forcing_along_another_batch_shape_ranks_each_greedy_token_first(engine, path):
    """`kv_reuse`: the cache holds the answer, so the prompt's last token is evaluated again alone (a batch
    of 1, where generation had the whole prompt in one). `batched`: the answer in one batch with logits at
    every position, as a target verifies a draft. Other kernels: the same ranking, log-probs within the
    measured tolerance (tests/numerics.py)."""
    prompt, greedy = greedy_answer(engine)
    if path == "batched":
        engine.reset()
    top_ids, top_logprobs = engine.top_logprobs(
        prompt, list(greedy.token_ids), top_k=2, batched=path == "batched"
    )
    margins = [values[0] - values[1] for values in top_logprobs]
    assert min(margins) > CLEAR_MARGIN_NATS  # so the ranking is a claim the kernels can keep
    assert [ids[0] for ids in top_ids] == list(greedy.token_ids)
    assert np.allclose(
        [values[0] for values in top_logprobs], greedy.token_logprobs, rtol=0, atol=BATCH_SHAPE_LOGPROB_NATS
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


def test_the_teacher_file_is_named_after_the_whole_registered_name_or_the_gguf_file():
    assert (
        teacher.teacher_file("d", "qwen2.5-coder-1.5b-instruct").name
        == "teacher-qwen2.5-coder-1.5b-instruct.jsonl"
    )
    assert teacher.teacher_file("d", "/m/big.model.gguf").name == "teacher-big.model.jsonl"
