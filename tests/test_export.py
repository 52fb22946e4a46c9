"""A PEFT LoRA adapter exported to GGUF is what llama.cpp loads, and it changes the real engine's output."""

import json
from pathlib import Path

import numpy as np
import pytest
from numerics import REQUANTIZED_LOGPROB_NATS

pytest.importorskip("gguf")
from safetensors.numpy import load_file, save_file

from nanocomplete.config import EngineConfig, GenerationConfig
from nanocomplete.engine import Engine
from nanocomplete.merge import MergeError, merge
from nanocomplete.train import export, lora_gguf

HIDDEN, LAYERS = 896, 24  # Qwen2.5-Coder-0.5B
PROMPT = "def fibonacci(n):\n    if n < 2:\n        return n\n    return "


def test_peft_names_map_to_llama_cpp_adapter_names():
    names = export.gguf_names(
        [
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
            "base_model.model.model.layers.23.mlp.down_proj.lora_B.weight",
            "base_model.model.model.layers.5.self_attn.o_proj.lora_A.weight",
        ],
        LAYERS,
    )
    assert list(names.values()) == [
        "blk.0.attn_q.weight.lora_a",
        "blk.23.ffn_down.weight.lora_b",
        "blk.5.attn_output.weight.lora_a",
    ]


def test_tensors_that_are_not_lora_weights_are_refused():
    with pytest.raises(export.ExportError, match="not a LoRA"):
        export.gguf_names(["base_model.model.model.embed_tokens.weight"], LAYERS)


def write_peft_adapter(folder, b_scale: float, rank: int = 4, seed: int = 0) -> None:
    """A q_proj LoRA on every layer, in PEFT's on-disk format; `b_scale` 0 makes it a no-op."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(LAYERS):
        base = f"base_model.model.model.layers.{layer}.self_attn.q_proj"
        tensors[f"{base}.lora_A.weight"] = rng.normal(0, 0.05, (rank, HIDDEN)).astype(np.float32)
        tensors[f"{base}.lora_B.weight"] = rng.normal(0, b_scale, (HIDDEN, rank)).astype(np.float32)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    settings = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "target_modules": ["q_proj"]}
    (folder / "adapter_config.json").write_text(json.dumps(settings))


def greedy(engine: Engine) -> tuple[str, tuple[float, ...]]:
    generation = engine.generate(engine.tokenize(PROMPT), GenerationConfig(max_tokens=12))
    return generation.text, generation.token_logprobs


@pytest.mark.model
def test_an_exported_adapter_is_loaded_by_the_engine_and_changes_its_output(model_path, tmp_path):
    config = EngineConfig(context_window_tokens=512, batch_tokens=64)
    base_text, base_logprobs = greedy(Engine(model_path, config))

    write_peft_adapter(tmp_path / "noop", b_scale=0.0)
    noop = export.export(tmp_path / "noop", tmp_path / "noop.gguf")
    noop_text, noop_logprobs = greedy(Engine(model_path, config, noop))
    # the same path: the base's matrix products in the same batches, plus the adapter's, which are exact
    # zeros when B is zero, so the floats are identical
    assert noop_text == base_text
    assert noop_logprobs == base_logprobs

    write_peft_adapter(tmp_path / "strong", b_scale=0.5)
    strong = export.export(tmp_path / "strong", tmp_path / "strong.gguf")
    strong_text, _ = greedy(Engine(model_path, config, strong))
    assert strong_text != base_text


def test_a_gguf_adapter_reads_back_into_the_peft_adapter_it_was_exported_from(tmp_path):
    write_peft_adapter(tmp_path / "peft", b_scale=0.05, rank=8)
    exported = export.export(tmp_path / "peft", tmp_path / "adapter.gguf")
    back = lora_gguf.to_peft(exported, tmp_path / "back")
    original = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))
    read = load_file(str(back / "adapter_model.safetensors"))
    assert read.keys() == original.keys()
    for name, tensor in original.items():  # float16 in the GGUF: equal to float16 rounding
        np.testing.assert_array_equal(read[name], tensor.astype(np.float16).astype(np.float32))
    settings = json.loads((back / "adapter_config.json").read_text())
    assert (settings["peft_type"], settings["r"], settings["lora_alpha"]) == ("LORA", 8, 16.0)
    assert settings["target_modules"] == ["q_proj"]


def test_the_committed_adapter_reads_back_as_a_rank_32_lora_of_every_projection(tmp_path):
    committed = Path(__file__).parent.parent / "nanocomplete" / "adapters" / "nanocomplete-0.5b.gguf"
    back = lora_gguf.to_peft(committed, tmp_path / "released")
    settings = json.loads((back / "adapter_config.json").read_text())
    tensors = load_file(str(back / "adapter_model.safetensors"))
    assert (settings["r"], settings["lora_alpha"]) == (32, 64.0)
    assert sorted(settings["target_modules"]) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    assert len(tensors) == LAYERS * 7 * 2
    down_a = tensors["base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"]
    assert down_a.shape == (32, 4864) and down_a.dtype == np.float32


def test_a_gguf_that_is_not_a_lora_adapter_is_refused(model_path, tmp_path):
    with pytest.raises(export.ExportError, match="not a GGUF LoRA adapter"):
        lora_gguf.to_peft(model_path, tmp_path / "out")


def test_a_non_lora_adapter_folder_is_refused(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    with pytest.raises(export.ExportError, match="not LoRA"):
        export.export(tmp_path, tmp_path / "out.gguf")


def teacher_forced(engine: Engine, answer: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 ids and top-2 log-probs of `engine` along `answer` after PROMPT, from an empty cache."""
    engine.reset()
    ids, values = engine.top_logprobs(engine.tokenize(PROMPT), answer, top_k=2)
    return np.array([row[0] for row in ids]), np.array(values)


def assert_same_answer_within_requantization(reference: Engine, merged: Engine) -> np.ndarray:
    """Along `reference`'s greedy answer, `merged` ranks the same token first wherever `reference` does so
    clearly, with log-probs within REQUANTIZED_LOGPROB_NATS. Returns the |Δ log-prob| per position."""
    answer = list(reference.generate(reference.tokenize(PROMPT), GenerationConfig(max_tokens=12)).token_ids)
    ref_ids, ref_values = teacher_forced(reference, answer)
    got_ids, _ = teacher_forced(merged, answer)
    clear = ref_values[:, 0] - ref_values[:, 1] > 2 * REQUANTIZED_LOGPROB_NATS
    assert clear.sum() >= len(answer) // 2  # enough of the answer is a claim the grid can keep
    assert (got_ids == ref_ids)[clear].all()
    merged.reset()  # the same path as `teacher_forced`
    deltas = np.abs(np.array(merged.answer_logprobs(merged.tokenize(PROMPT), answer)) - ref_values[:, 0])
    assert deltas.max() < REQUANTIZED_LOGPROB_NATS
    return deltas


@pytest.mark.model
def test_merging_an_adapter_into_the_weights_gives_the_adapters_output_at_the_bases_size(
    model_path, tmp_path, capfd
):
    """Merging re-quantizes the adapted weights to the base's scheme, so it is another model, not another
    kernel: it agrees with the adapter applied at run time to the quantization grid's resolution
    (tests/numerics.py), and is far closer to it than the base is."""
    config = EngineConfig(context_window_tokens=512, batch_tokens=64, threads=1)
    base = Engine(model_path, config)

    write_peft_adapter(tmp_path / "noop", b_scale=0.0)
    noop = merge(
        model_path,
        export.export(tmp_path / "noop", tmp_path / "noop.gguf"),
        tmp_path / "m0.gguf",
        progress=True,
    )
    shown = capfd.readouterr()  # what a terminal would show: one progress bar, not llama.cpp's log
    assert shown.out == "" and "merge: quantize" in shown.err and "291/291" in shown.err
    assert "llama_model_quantize" not in shown.err and "blk.0." not in shown.err
    assert (
        noop.stat().st_size == model_path.stat().st_size
    )  # the base's quantization scheme, tensor by tensor
    assert_same_answer_within_requantization(base, Engine(noop, config))

    write_peft_adapter(tmp_path / "strong", b_scale=0.2, seed=1)
    adapter = export.export(tmp_path / "strong", tmp_path / "strong.gguf")
    at_run_time = Engine(model_path, config, adapter)
    merged = Engine(merge(model_path, adapter, tmp_path / "m1.gguf"), config)
    assert greedy(at_run_time)[0] != greedy(base)[0]
    merge_gap = assert_same_answer_within_requantization(at_run_time, merged)
    answer = list(
        at_run_time.generate(at_run_time.tokenize(PROMPT), GenerationConfig(max_tokens=12)).token_ids
    )
    adapter_effect = np.abs(
        np.array(base.answer_logprobs(base.tokenize(PROMPT), answer))
        - np.array(at_run_time.answer_logprobs(at_run_time.tokenize(PROMPT), answer))
    )
    assert merge_gap.mean() < adapter_effect.mean() / 4


@pytest.mark.model
def test_a_merge_can_quantize_to_another_tensor_type_and_refuses_one_llama_cpp_lacks(model_path, tmp_path):
    """`tensor_type` (what `ModelSpec.tensor_type` asks of a pull): every adapted weight in that type, the
    answer the base's to the grid's resolution (a no-op adapter; Q8_0 is finer than the base's types)."""
    import gguf

    config = EngineConfig(context_window_tokens=512, batch_tokens=64, threads=1)
    write_peft_adapter(tmp_path / "noop", b_scale=0.0)
    adapter = export.export(tmp_path / "noop", tmp_path / "noop.gguf")
    q8 = merge(model_path, adapter, tmp_path / "q8.gguf", tensor_type="Q8_0")
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(q8)).tensors}
    assert {types[f"blk.{i}.attn_q.weight"] for i in range(LAYERS)} == {"Q8_0"}
    assert_same_answer_within_requantization(Engine(model_path, config), Engine(q8, config))
    with pytest.raises(MergeError, match="no tensor type 'Q3_X'"):
        merge(model_path, adapter, tmp_path / "bad.gguf", tensor_type="Q3_X")
    assert not (tmp_path / "bad.gguf").exists()


def write_full_model(folder, tensors: dict, layers: int = LAYERS) -> None:
    """A fully fine-tuned model's folder as transformers saves it (only the tensors given)."""
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "model.safetensors"))
    config = {"model_type": "qwen2", "num_hidden_layers": layers, "tie_word_embeddings": True}
    (folder / "config.json").write_text(json.dumps(config))


def test_a_full_models_tensors_map_to_the_base_ggufs_names_and_a_tied_head_is_left_out(tmp_path):
    tensors = {
        "model.embed_tokens.weight": np.zeros((8, 4), np.float32),
        "model.layers.3.mlp.down_proj.weight": np.zeros((4, 6), np.float32),
        "model.layers.0.self_attn.k_proj.bias": np.zeros(4, np.float32),
        "model.layers.23.post_attention_layernorm.weight": np.ones(4, np.float32),
        "model.norm.weight": np.ones(4, np.float32),
        "lm_head.weight": np.zeros((8, 4), np.float32),
    }
    write_full_model(tmp_path / "full", tensors)
    assert export.is_full_model(tmp_path / "full")
    assert sorted(export.full_weights(tmp_path / "full")) == [
        "blk.0.attn_k.bias",
        "blk.23.ffn_norm.weight",
        "blk.3.ffn_down.weight",
        "output_norm.weight",
        "token_embd.weight",
    ]


@pytest.mark.model
def test_full_fine_tunings_weights_export_to_a_model_that_answers_as_the_same_change_applied_as_an_adapter(
    model_path, tmp_path
):
    """The same change to the q_proj weights, once as a LoRA adapter applied at run time and once as whole
    trained weights (base + alpha/r · B·A, transformers' names and shapes) put into the base GGUF: the two
    agree to the quantization grid's resolution, and both differ from the base."""
    import gguf
    from gguf.quants import dequantize

    config = EngineConfig(context_window_tokens=512, batch_tokens=64, threads=1)
    write_peft_adapter(tmp_path / "strong", b_scale=0.2, seed=1)
    adapter = export.export(tmp_path / "strong", tmp_path / "strong.gguf")
    at_run_time = Engine(model_path, config, adapter)
    lora = load_file(str(tmp_path / "strong" / "adapter_model.safetensors"))
    base = {t.name: t for t in gguf.GGUFReader(str(model_path)).tensors}
    full = {}
    for layer in range(LAYERS):
        q = base[f"blk.{layer}.attn_q.weight"]
        prefix = f"base_model.model.model.layers.{layer}.self_attn.q_proj"
        delta = 2.0 * (lora[f"{prefix}.lora_B.weight"] @ lora[f"{prefix}.lora_A.weight"])  # alpha/r = 2
        full[f"model.layers.{layer}.self_attn.q_proj.weight"] = dequantize(q.data, q.tensor_type) + delta
    write_full_model(tmp_path / "full", full)
    exported = Engine(export.export_full(tmp_path / "full", model_path, tmp_path / "full.gguf"), config)
    assert (tmp_path / "full.gguf").stat().st_size == model_path.stat().st_size
    assert greedy(exported)[0] != greedy(Engine(model_path, config))[0]
    assert_same_answer_within_requantization(at_run_time, exported)


@pytest.mark.model
def test_a_full_model_with_a_tensor_of_the_wrong_shape_is_refused(model_path, tmp_path):
    write_full_model(tmp_path / "full", {"model.norm.weight": np.ones(5, np.float32)})
    with pytest.raises(MergeError, match=r"output_norm\.weight: shape"):
        export.export_full(tmp_path / "full", model_path, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


@pytest.mark.model
def test_the_base_prepared_for_full_fine_tuning_saves_as_a_model_that_loads_back_the_same(
    model_path, tmp_path
):
    """transformers refuses to save a model it loaded from GGUF, even dequantized; full fine-tuning's
    checkpoints and final model must save (a real 0.5B run failed there at its first checkpoint)."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    from nanocomplete.train import trainer

    config = trainer.TrainConfig(data="-", out="-", method="full")
    model = trainer.prepare(trainer.load_base(str(model_path)), config)
    model.save_pretrained(str(tmp_path / "full"))
    again = AutoModelForCausalLM.from_pretrained(str(tmp_path / "full"), dtype=torch.float32)
    assert torch.equal(again.model.layers[5].mlp.down_proj.weight, model.model.layers[5].mlp.down_proj.weight)
    assert torch.equal(again.lm_head.weight, model.lm_head.weight)
    assert export.is_full_model(tmp_path / "full")
