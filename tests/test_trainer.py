"""The trainer's loss, schedule, order and resumption, on a tiny randomly initialised Qwen2 (the logic is
the same for the 0.5B; the real model's round trip is in test_export.py)."""

import dataclasses
import itertools
import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from nanocomplete.train import trainer  # noqa: E402
from nanocomplete.train.trainer import TrainConfig  # noqa: E402

VOCAB = 64


def tiny_qwen2(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return transformers.Qwen2ForCausalLM(config).eval()


def manual_cross_entropy(model, prompt, answer) -> float:
    """Cross-entropy of the answer tokens from the full logits, position by position."""
    ids = torch.tensor([[*prompt, *answer]])
    logits = model(input_ids=ids).logits[0]
    total = 0.0
    for i, token in enumerate(answer):
        position = len(prompt) - 1 + i  # the position whose next token is answer[i]
        total -= torch.log_softmax(logits[position], -1)[token].item()
    return total / len(answer)


def test_loss_is_the_cross_entropy_of_the_answer_tokens_only():
    model = tiny_qwen2()
    prompt, answer = [5, 9, 11, 3, 7, 2], [13, 17, 1]
    with torch.no_grad():
        loss = trainer.answer_loss(model, prompt, answer).item()
    # two float32 computations of one cross-entropy (the LM head at the answer positions only, or at all,
    # then summed in another order): they differ by rounding, ~1e-7 relative; 1e-4 leaves room for other
    # CPUs' kernels and is still 1,000x below any labelling mistake (a wrong position moves it by >10%)
    assert loss == pytest.approx(manual_cross_entropy(model, prompt, answer), rel=1e-4)


def test_prompt_tokens_get_no_gradient_as_labels():
    """Only answer positions are labels: the loss of (prompt, answer) does not change when the prompt's own
    next tokens would have been easy or hard to predict, beyond their effect as context."""
    model = tiny_qwen2()
    answer = [13, 17, 1]
    with torch.no_grad():
        repeated = trainer.answer_loss(model, [4, 4, 4, 4, 4, 4], answer).item()
        expected = manual_cross_entropy(model, [4, 4, 4, 4, 4, 4], answer)
    # were prompt positions labels, this prompt's near-certain repeats would pull the mean loss far down
    assert repeated == pytest.approx(expected, rel=1e-4)  # float32 rounding, as above
    assert trainer.model_input([1, 2], [3, 4, 5]).tolist() == [[1, 2, 3, 4]]


def test_distillation_toward_a_one_hot_teacher_is_the_cross_entropy():
    model = tiny_qwen2()
    prompt, answer = [5, 9, 11], [13, 17]
    teacher = ([[13, 2], [17, 3]], [[0.0, -50.0], [0.0, -50.0]])  # all mass on the real answer
    with torch.no_grad():
        plain = trainer.answer_loss(model, prompt, answer).item()
        distilled = trainer.answer_loss(model, prompt, answer, teacher, distill_weight=1.0).item()
        mixed = trainer.answer_loss(model, prompt, answer, teacher, distill_weight=0.5).item()
    # the teacher's other token gets e^-50 of the mass: equal up to float32 rounding (as above)
    assert distilled == pytest.approx(plain, rel=1e-4)
    assert mixed == pytest.approx(plain, rel=1e-4)


def test_distillation_follows_the_teacher_when_it_disagrees():
    model = tiny_qwen2()
    prompt, answer = [5, 9, 11], [13]
    teacher = ([[20]], [[0.0]])  # the teacher is sure of token 20
    with torch.no_grad():
        distilled = trainer.answer_loss(model, prompt, [13], teacher, distill_weight=1.0).item()
        toward_20 = trainer.answer_loss(model, prompt, [20]).item()
    assert distilled == pytest.approx(toward_20, rel=1e-4)  # one computation vs another: float32 rounding
    assert answer == [13]


def test_schedule_warms_up_linearly_then_decays_to_a_tenth():
    factors = [trainer.schedule(step, total_steps=20, warmup_steps=4) for step in range(20)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in itertools.pairwise(factors[3:]))
    assert trainer.schedule(100, total_steps=20, warmup_steps=4) == pytest.approx(0.1)


def test_a_run_cut_short_by_its_time_budget_still_ends_its_cosine_at_ten_percent():
    assert trainer.schedule(10, total_steps=100, warmup_steps=4, time_progress=1.0) == pytest.approx(0.1)
    halfway = trainer.schedule(10, total_steps=100, warmup_steps=4, time_progress=0.5)
    assert halfway == pytest.approx(0.55) and trainer.schedule(10, 100, 4) > 0.95
    assert trainer.schedule(2, total_steps=100, warmup_steps=4, time_progress=0.9) == pytest.approx(0.75)


def records(n: int, length: int = 6) -> list[dict]:
    return [
        {
            "id": f"ex{i}",
            "prompt_ids": [(i + j) % 50 + 2 for j in range(length)],
            "target_ids": [i % 7 + 3, 1],
        }
        for i in range(n)
    ]


def test_order_is_seeded_and_leaves_out_examples_over_the_length_limit():
    data = [*records(10), {"id": "long", "prompt_ids": list(range(40)), "target_ids": [1]}]
    config = TrainConfig(data="-", out="-", max_sequence_tokens=20, epochs=2, seed=3)
    first, again = trainer.order(data, config), trainer.order(data, config)
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert len(first) == 20 and "long" not in {r["id"] for r in first}
    other = trainer.order(data, TrainConfig(data="-", out="-", max_sequence_tokens=20, epochs=2, seed=4))
    assert [r["id"] for r in other] != [r["id"] for r in first]


def write_shard(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def adapter_weights(folder):
    """The trained tensors: a LoRA adapter's, or with method "full" the whole model's."""
    from safetensors.torch import load_file

    name = "adapter_model.safetensors" if (folder / "adapter_config.json").is_file() else "model.safetensors"
    return load_file(str(folder / name))


@pytest.mark.parametrize("method", ["lora", "full"])
def test_an_interrupted_run_resumed_ends_with_the_same_weights_as_an_uninterrupted_one(
    tmp_path, monkeypatch, method
):
    write_shard(tmp_path / "data", records(6))
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2(seed=1))
    common = dict(data=str(tmp_path / "data"), batch_examples=2, checkpoint_steps=1, lora_rank=4)
    common.update(method=method)
    common.update(learning_rate=1e-2, warmup_steps=1, precision="fp32")

    whole = trainer.train(TrainConfig(out=str(tmp_path / "whole"), **common), progress=False)

    calls = {"n": 0}
    real_loss = trainer.answer_loss

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # the first example of the third step
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(trainer, "answer_loss", interrupted)
    config = TrainConfig(out=str(tmp_path / "resumed"), **common)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, progress=False)
    monkeypatch.setattr(trainer, "answer_loss", real_loss)
    with pytest.raises(SystemExit, match="--resume"):
        trainer.train(config, progress=False)
    resumed = trainer.train(config, resume=True, progress=False)

    expected, got = adapter_weights(whole), adapter_weights(resumed)
    assert expected.keys() == got.keys() and len(expected) > 0
    # the same path (one process, one CPU, the same shapes in the same order, an exact checkpoint): equal
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    steps = [
        json.loads(line)["step"] for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3]


def test_activation_checkpointing_trains_the_same_adapter(tmp_path, monkeypatch):
    """Recomputing activations in the backward pass (what fits the 1.5B in this machine's memory) changes
    the memory, not what is learned."""
    write_shard(tmp_path / "data", records(4))
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2(seed=3))
    common = dict(data=str(tmp_path / "data"), batch_examples=2, lora_rank=4, precision="fp32")
    common.update(learning_rate=1e-2, warmup_steps=1)
    plain = trainer.train(TrainConfig(out=str(tmp_path / "plain"), **common), progress=False)
    config = TrainConfig(out=str(tmp_path / "recomputed"), activation_checkpointing=1, **common)
    recomputed = trainer.train(config, progress=False)

    expected, got = adapter_weights(plain), adapter_weights(recomputed)
    assert expected.keys() == got.keys() and len(expected) > 0
    # the recomputed forward runs the same kernels on the same inputs: equal up to float32 rounding
    for name in expected:
        assert torch.allclose(expected[name], got[name], rtol=1e-4, atol=1e-6), name
    assert any(got[name].abs().sum() > 0 for name in got if "lora_B" in name)  # B starts at zero: it trained


@pytest.mark.parametrize("every, forward_passes", [(0, 2), (1, 4), (2, 3)])
def test_activation_checkpointing_recomputes_every_nth_layer_in_the_backward_pass(
    tmp_path, monkeypatch, every, forward_passes
):
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2())  # 2 decoder layers
    config = TrainConfig(data="-", out="-", lora_rank=4, activation_checkpointing=every)
    model = trainer._start_model(config, tmp_path / "checkpoint", resuming=False)
    model.train()
    calls = []
    for layer in model.base_model.model.model.layers:  # a pre-hook: a recompute may stop before the end
        layer.self_attn.register_forward_pre_hook(lambda *_: calls.append(1))
    trainer.answer_loss(model, [5, 9, 11, 3], [13, 1]).backward()
    assert len(calls) == forward_passes


def test_full_fine_tuning_lowers_the_loss_on_what_it_trains_on(tmp_path, monkeypatch):
    write_shard(tmp_path / "data", records(4))
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2(seed=2))
    config = TrainConfig(
        data=str(tmp_path / "data"), out=str(tmp_path / "run"), batch_examples=4, epochs=15, method="full"
    )
    config = trainer.dataclasses.replace(config, learning_rate=1e-2, warmup_steps=1, precision="fp32")
    trainer.train(config, progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 15
    assert losses[-1] < 0.5 * losses[0]


def test_distilling_without_teacher_scores_is_refused(tmp_path):
    write_shard(tmp_path / "data", records(2))
    config = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "run"), distill_weight=0.5)
    with pytest.raises(SystemExit, match="--teacher"):
        trainer.with_teacher(records(2), config)
    (tmp_path / "teacher.jsonl").write_text(
        json.dumps({"id": "ex0", "top_ids": [[1]], "top_logprobs": [[0.0]]}) + "\n"
    )
    config = trainer.dataclasses.replace(config, teacher=str(tmp_path / "teacher.jsonl"))
    with pytest.raises(SystemExit, match="no teacher scores"):
        trainer.with_teacher(records(2), config)


def test_a_second_stage_starts_from_the_given_adapter_a_peft_folder_or_its_gguf_export(tmp_path, monkeypatch):
    write_shard(tmp_path / "data", records(4))
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2(seed=1))
    common = dict(
        data=str(tmp_path / "data"), batch_examples=2, lora_rank=4, warmup_steps=1, precision="fp32"
    )
    first = trainer.train(
        TrainConfig(out=str(tmp_path / "first"), learning_rate=1e-2, **common), progress=False
    )

    # with a zero learning rate the second stage cannot move: it ends where it started
    still = TrainConfig(out=str(tmp_path / "still"), learning_rate=0.0, init_adapter=str(first), **common)
    second = trainer.train(still, progress=False)
    expected, got = adapter_weights(first), adapter_weights(second)
    assert expected.keys() == got.keys()
    assert any(expected[name].abs().sum() > 0 for name in expected if "lora_B" in name)
    for name in expected:
        assert torch.equal(expected[name], got[name]), name

    # the same adapter exported to GGUF (float16, as committed) and read back: the start of a later stage
    from nanocomplete.train import export

    gguf_path = export.export(first, tmp_path / "first.gguf")
    from_gguf = TrainConfig(
        out=str(tmp_path / "gguf"), learning_rate=0.0, init_adapter=str(gguf_path), **common
    )
    third = trainer.train(from_gguf, progress=False)
    got = adapter_weights(third)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name].to(torch.float16).float(), got[name]), name

    with pytest.raises(SystemExit, match="no PEFT adapter"):
        trainer.train(
            TrainConfig(out=str(tmp_path / "none"), init_adapter=str(tmp_path / "data"), **common),
            progress=False,
        )


def test_a_padded_micro_batch_gives_the_mean_of_the_examples_own_losses():
    model = tiny_qwen2()
    records = [
        {"prompt_ids": [1, 2, 3, 4, 5, 6], "target_ids": [7, 8, 9]},
        {"prompt_ids": [10, 11], "target_ids": [12]},
        {"prompt_ids": [13, 14, 15], "target_ids": [16, 17, 18, 19, 20]},
    ]
    alone = [trainer.answer_loss(model, r["prompt_ids"], r["target_ids"]).item() for r in records]
    batched = trainer.batch_answer_loss(model, records).item()
    assert batched == pytest.approx(sum(alone) / len(alone), abs=1e-5)


def test_a_time_budget_stops_at_a_step_and_saves_an_adapter_that_resumes(tmp_path, monkeypatch):
    write_shard(tmp_path / "data", records(24))
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2(seed=1))
    config = TrainConfig(
        data=str(tmp_path / "data"), out=str(tmp_path / "run"), batch_examples=4, micro_batch_examples=4,
        max_train_seconds=1e-9, precision="fp32", warmup_steps=1,
    )  # fmt: skip
    trainer.train(config, progress=False)
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1] and (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()
    trainer.train(dataclasses.replace(config, max_train_seconds=0.0), resume=True, progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in log] == [1, 2, 3, 4, 5, 6]
    # the first call spent its whole time budget, so its cosine ended; the resumed one goes on from there
    assert all(line["learning_rate"] == pytest.approx(0.1 * config.learning_rate) for line in log[1:])


def test_a_token_budget_keeps_the_first_examples_that_fit_in_it_and_no_more():
    data = records(10, length=8)  # 10 tokens each: 8 prompt + 2 answer
    config = TrainConfig(data="-", out="-", max_train_tokens=35, seed=3)
    kept = {r["id"] for r in trainer.order(data, config)}
    assert kept == {"ex0", "ex1", "ex2"}  # 30 tokens; a fourth would make 40
    both = dataclasses.replace(config, max_examples=2)
    assert {r["id"] for r in trainer.order(data, both)} == {"ex0", "ex1"}


def test_a_later_stage_skips_the_examples_the_earlier_stages_took():
    data = records(10, length=8)
    first = TrainConfig(data="-", out="-", max_examples=4, seed=3)
    later = dataclasses.replace(first, skip_examples=4)
    assert {r["id"] for r in trainer.order(data, first)} == {"ex0", "ex1", "ex2", "ex3"}
    assert {r["id"] for r in trainer.order(data, later)} == {"ex4", "ex5", "ex6", "ex7"}
    rest = dataclasses.replace(later, max_examples=None)
    assert {r["id"] for r in trainer.order(data, rest)} == {f"ex{i}" for i in range(4, 10)}


def test_a_step_with_a_non_finite_gradient_is_left_out_and_the_weights_stay_finite(tmp_path, monkeypatch):
    write_shard(tmp_path / "data", records(12))
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2(seed=1))
    real_loss, calls = trainer._micro_batch_loss, itertools.count()

    def second_step_overflows(model, micro, distill_weight):
        loss = real_loss(model, micro, distill_weight)
        return loss * float("inf") if next(calls) == 1 else loss

    monkeypatch.setattr(trainer, "_micro_batch_loss", second_step_overflows)
    config = TrainConfig(
        data=str(tmp_path / "data"), out=str(tmp_path / "run"), batch_examples=4, micro_batch_examples=4,
        precision="fp32",
    )  # fmt: skip
    adapter = trainer.train(config, progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [line.get("skipped") for line in log] == [None, "non-finite gradient", None]
    assert all(torch.isfinite(weight).all() for weight in adapter_weights(adapter).values())
    assert log[2]["loss"] == log[2]["loss"]  # the step after it learns from finite weights
