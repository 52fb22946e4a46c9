"""LoRA tensors between PEFT's and llama.cpp's GGUF adapter formats: the name map both ways, and a GGUF
LoRA adapter read back into a PEFT folder (`to_peft`), so that a later training stage goes on from a
committed adapter (`trainer --init-adapter nanocomplete/adapters/X.gguf`). `export` writes the GGUF side.

The names are gguf's own Hugging Face → GGUF map for Qwen2 (`blk.N.attn_q.weight.lora_a` for
`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`); A is rank × in, B out × rank, float16
in the GGUF, as llama.cpp's convert_lora_to_gguf.py writes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class ExportError(ValueError):
    """An adapter that cannot be converted (not LoRA, a tensor of no known name)."""


_LORA_NAME = re.compile(r"^base_model\.model\.(?P<base>.+)\.lora_(?P<part>[AB])\.weight$")


def gguf_names(peft_names: Sequence[str], blocks: int) -> dict[str, str]:
    """PEFT tensor name → GGUF adapter tensor name (`blk.N.attn_q.weight.lora_a`)."""
    import gguf

    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, blocks)
    names = {}
    for peft_name in peft_names:
        found = _LORA_NAME.match(peft_name)
        if found is None:
            raise ExportError(f"{peft_name}: not a LoRA A/B weight (embeddings and biases are not exported)")
        base = name_map.get_name(found["base"] + ".weight", try_suffixes=(".weight",))
        if base is None:
            raise ExportError(f"{peft_name}: no GGUF tensor for {found['base']}")
        names[peft_name] = f"{base}.lora_{found['part'].lower()}"
    return names


_PROJECTIONS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")  # fmt: skip


def peft_names(adapter_names: Sequence[str], blocks: int) -> dict[str, str]:
    """GGUF adapter tensor name (`blk.N.attn_q.weight.lora_a`) → PEFT tensor name: `gguf_names` inverted
    over the Qwen2 projections LoRA can adapt. ExportError for a name that is none of them."""
    candidates = [
        f"base_model.model.model.layers.{block}.{projection}.lora_{part}.weight"
        for block in range(blocks)
        for projection in _PROJECTIONS
        for part in "AB"
    ]
    inverse = {gguf: peft for peft, gguf in gguf_names(candidates, blocks).items()}
    unknown = [name for name in adapter_names if name not in inverse]
    if unknown:
        raise ExportError(f"{unknown[0]}: not a LoRA A/B weight of a Qwen2 projection")
    return {name: inverse[name] for name in adapter_names}


def to_peft(gguf_path: Path | str, out_dir: Path | str) -> Path:
    """Write the GGUF LoRA adapter at `gguf_path` as a PEFT folder (adapter_config.json +
    adapter_model.safetensors, float32 from the GGUF's float16): what `export` wrote, read back, with the
    rank from the tensors' shapes and alpha from `adapter.lora.alpha`. ExportError for a GGUF that is not
    a LoRA adapter."""
    import gguf
    from safetensors.numpy import save_file

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    reader = gguf.GGUFReader(str(gguf_path))
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    if fields.get(gguf.Keys.General.TYPE) != "adapter" or fields.get(gguf.Keys.Adapter.TYPE) != "lora":
        raise ExportError(f"{gguf_path}: not a GGUF LoRA adapter")
    tensors = {tensor.name: np.asarray(tensor.data) for tensor in reader.tensors}
    blocks = 1 + max(int(m) for m in re.findall(r"blk\.(\d+)\.", " ".join(tensors)))
    names = peft_names(sorted(tensors), blocks)
    weights = {names[name]: array.astype(np.float32) for name, array in tensors.items()}
    ranks = {array.shape[0] for name, array in weights.items() if ".lora_A." in name}
    if len(ranks) != 1:
        raise ExportError(f"{gguf_path}: LoRA A matrices of several ranks {sorted(ranks)}")
    targets = sorted({_LORA_NAME.match(name)["base"].rsplit(".", 1)[1] for name in weights})
    settings = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": ranks.pop(),
        "lora_alpha": float(fields[gguf.Keys.Adapter.LORA_ALPHA]), "target_modules": targets,
        "lora_dropout": 0.0, "bias": "none", "inference_mode": False, "base_model_name_or_path": None,
    }  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out_dir / "adapter_model.safetensors"))
    (out_dir / "adapter_config.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return out_dir
