"""A PEFT LoRA adapter → a GGUF LoRA adapter that llama.cpp applies at load time; a fully fine-tuned
model's folder → a model GGUF in the base's quantization scheme. (The names between the two formats, and
the way back for a later training stage, are in `lora_gguf`.)

    python -m nanocomplete.train.export ADAPTER_DIR OUT.gguf [--check DATA_DIR] [--check-examples N]
                                        [--merge-into MERGED.gguf]
    python -m nanocomplete.train.export MODEL_DIR OUT.gguf [--check DATA_DIR] [--check-examples N]

`--check` then scores the first N examples of a built set twice, with transformers + PEFT (the trained
adapter on the dequantized base) and with the engine + the GGUF adapter on the Q4_K_M base, and prints how
far apart the answer tokens' log-probs are (they should agree to quantization noise). `--merge-into` also
writes the base with the adapter folded into its weights (`nanocomplete.merge`, what `pull` does).

What llama.cpp's convert_lora_to_gguf.py writes, for the Qwen2 LoRA shapes we train (the script itself needs
the base model's Hugging Face folder, which we do not have offline: our base is a GGUF): general.type
"adapter", adapter.type "lora", adapter.lora.alpha, and for each adapted weight `<gguf name>.lora_a`
(rank × in) and `.lora_b` (out × rank) in float16, named with gguf's own Hugging Face → GGUF name map.
llama.cpp scales by alpha / rank, as PEFT does.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nanocomplete.merge import ARCHITECTURE, MergeError, merge, replace_weights
from nanocomplete.train.lora_gguf import ExportError, gguf_names


def export(adapter_dir: Path | str, out_path: Path | str) -> Path:
    """Write the adapter in `adapter_dir` (PEFT's adapter_config.json + adapter_model.safetensors)."""
    import gguf
    from safetensors.numpy import load_file

    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    settings = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if settings.get("peft_type") != "LORA":
        raise ExportError(f"{adapter_dir}: a {settings.get('peft_type')} adapter, not LoRA")
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    blocks = 1 + max(int(m) for m in re.findall(r"\.layers\.(\d+)\.", " ".join(tensors)))
    names = gguf_names(sorted(tensors), blocks)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_suffix(out_path.suffix + ".partial")
    writer = gguf.GGUFWriter(str(partial), ARCHITECTURE)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(settings["lora_alpha"]))
    for peft_name in sorted(tensors):
        writer.add_tensor(names[peft_name], tensors[peft_name].astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(out_path)
    return out_path


def is_full_model(folder: Path | str) -> bool:
    """Whether `folder` holds a whole transformers model (full fine-tuning) rather than a PEFT adapter."""
    folder = Path(folder)
    return not (folder / "adapter_config.json").is_file() and (folder / "config.json").is_file()


def full_weights(model_dir: Path | str) -> dict[str, np.ndarray]:
    """A full fine-tuning's model folder (transformers' config.json and model*.safetensors) as GGUF tensor
    names → float32 arrays in transformers' shapes. The LM head is left out when the config ties it to the
    embeddings; the registry's GGUFs have their own `output.weight`, and transformers loads them untied."""
    import gguf
    from safetensors.numpy import load_file

    model_dir = Path(model_dir)
    files = sorted(model_dir.glob("model*.safetensors"))
    if not files:
        raise ExportError(f"{model_dir}: no model*.safetensors")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, int(config["num_hidden_layers"]))
    weights = {}
    for file in files:
        for name, tensor in load_file(str(file)).items():
            if name == "lm_head.weight" and config.get("tie_word_embeddings"):
                continue
            found = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
            if found is None:
                raise ExportError(f"{name}: no GGUF tensor for it")
            weights[found] = tensor.astype(np.float32)
    return weights


def export_full(model_dir: Path | str, base_gguf: Path | str, out_path: Path | str) -> Path:
    """Full fine-tuning's weights (`model_dir`) in place of the base GGUF's, re-quantized to its scheme
    (`merge.replace_weights`): a model GGUF like a merged adapter's."""
    return replace_weights(base_gguf, full_weights(model_dir), out_path)


def check(trained_dir: Path, gguf_path: Path, records: Sequence[dict], base_model: str) -> dict:
    """Answer-token log-probs of `records` under transformers (the trained adapter on the dequantized base,
    or the fully fine-tuned model) and under the engine with the export (the adapter applied at load time,
    or the exported model)."""
    import torch

    from nanocomplete.config import EngineConfig
    from nanocomplete.engine import Engine
    from nanocomplete.train import trainer

    engine = Engine.for_model(base_model, EngineConfig(kv_shift_min_tokens=0))
    if is_full_model(trained_dir):
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(trained_dir), dtype=torch.float32).eval()
        adapted = Engine(gguf_path, EngineConfig(kv_shift_min_tokens=0))
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(trainer.load_base(base_model), str(trained_dir)).eval()
        adapted = Engine(engine.model_path, EngineConfig(kv_shift_min_tokens=0), gguf_path)
    gaps, base_gaps = [], []
    for record in records:
        prompt, answer = record["prompt_ids"], record["target_ids"]
        with torch.no_grad():
            logits = model(input_ids=trainer.model_input(prompt, answer), logits_to_keep=len(answer)).logits[
                0
            ]
        peft_logprobs = torch.log_softmax(logits.float(), -1)[range(len(answer)), answer].numpy()
        engine_logprobs = np.array(adapted.answer_logprobs(prompt, answer))
        base_logprobs = np.array(engine.answer_logprobs(prompt, answer))
        gaps += list(np.abs(peft_logprobs - engine_logprobs))
        base_gaps += list(np.abs(peft_logprobs - base_logprobs))
    return {
        "examples": len(records),
        "median_abs_logprob_gap_adapter": float(np.median(gaps)),
        "median_abs_logprob_gap_without_adapter": float(np.median(base_gaps)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m nanocomplete.train.export", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "adapter_dir", type=Path, help="a PEFT LoRA adapter folder, or a fully fine-tuned model's folder"
    )
    parser.add_argument(
        "out", type=Path, help="the GGUF adapter to write (for a full model: the model GGUF, merged)"
    )
    parser.add_argument("--check", type=Path, default=None, help="a built data folder to compare on")
    parser.add_argument("--check-examples", type=int, default=8)
    parser.add_argument("--base-model", default=None, help="the base model (default: the registry's)")
    parser.add_argument(
        "--merge-into", type=Path, default=None, help="also write the base with the adapter folded in (GGUF)"
    )
    args = parser.parse_args(argv)
    from nanocomplete import models

    full = is_full_model(args.adapter_dir)
    if full and args.merge_into is not None:
        parser.error("--merge-into is for an adapter: a full model's OUT is already a model")
    try:
        if full:
            base = models.resolve(args.base_model or models.BASE_MODEL)
            path = export_full(args.adapter_dir, base, args.out)
        else:
            path = export(args.adapter_dir, args.out)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        if args.merge_into is not None:
            merged = merge(models.resolve(args.base_model or models.BASE_MODEL), path, args.merge_into)
            print(f"wrote {merged} ({merged.stat().st_size / 1e6:.1f} MB, merged)")
    except (ExportError, MergeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check is not None:
        from nanocomplete.train import data

        records = data.load(args.check)[: args.check_examples]
        print(
            json.dumps(check(args.adapter_dir, path, records, args.base_model or models.BASE_MODEL), indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
