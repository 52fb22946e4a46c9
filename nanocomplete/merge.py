"""Folding a GGUF LoRA adapter into its GGUF base: the adapter's quality at the base's speed.

Applied at load time, an adapter costs ~20% of generation speed (docs/training.md); `models.pull` of an
adapter model and `python -m nanocomplete.train.export --merge-into` write the merged file instead. Each
adapted weight is dequantized by gguf-py, W + (alpha/r)·B·A is added in float32, and llama.cpp's own
quantizer re-quantizes the model to Q4_K_M, which reproduces the base's tensor types (Q5_0 where rows of
896 do not fit K-quants, Q6_K, Q8_0, Q4_K) and its size to the byte. Re-quantizing moves log-probs by up
to a few tenths of a nat (docs/numerics.md).

Imports gguf and llama-cpp-python only: the registry can merge without the training extra (torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ARCHITECTURE = "qwen2"


class MergeError(ValueError):
    pass


def merge(base_gguf: Path | str, adapter_gguf: Path | str, out_path: Path | str, threads: int = 0) -> Path:
    """The base GGUF with a GGUF LoRA adapter folded into its weights (W + alpha/r · B·A), re-quantized by
    llama.cpp to the base's scheme (Q4_K_M with its fallbacks): the adapter's quality without its run-time
    cost. Adapted weights are dequantized by gguf-py and changed in float32; the others are copied."""
    import ctypes

    import gguf
    import llama_cpp
    from gguf.quants import dequantize

    out_path = Path(out_path)
    adapter = gguf.GGUFReader(str(adapter_gguf))
    if adapter.get_field(gguf.Keys.Adapter.TYPE) is None:
        raise MergeError(f"{adapter_gguf} is not a GGUF LoRA adapter")
    alpha = float(adapter.get_field(gguf.Keys.Adapter.LORA_ALPHA).contents())
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for tensor in adapter.tensors:
        weight, _, part = tensor.name.rpartition(".lora_")
        pairs.setdefault(weight, {})[part] = np.asarray(tensor.data, dtype=np.float32)
    rank = next(iter(pairs.values()))["a"].shape[0]
    reader = gguf.GGUFReader(str(base_gguf))
    scale = alpha / rank
    unmerged = out_path.with_suffix(".f32.partial")
    writer = gguf.GGUFWriter(str(unmerged), ARCHITECTURE)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)

    def merged(tensor) -> np.ndarray:
        lora = pairs[tensor.name]
        weight = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        return weight + scale * (lora["b"] @ lora["a"])

    for tensor in reader.tensors:
        if tensor.name in pairs:
            shape = tuple(int(n) for n in reversed(tensor.shape))
            writer.add_tensor_info(tensor.name, shape, np.dtype(np.float32), int(np.prod(shape)) * 4)
        else:
            writer.add_tensor_info(
                tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type
            )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(merged(tensor) if tensor.name in pairs else tensor.data)
    writer.close()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = threads
    params.allow_requantize = True
    partial = out_path.with_suffix(out_path.suffix + ".partial")
    from llama_cpp._utils import suppress_stdout_stderr  # llama.cpp logs a line per tensor

    try:
        with suppress_stdout_stderr():
            failed = llama_cpp.llama_model_quantize(
                str(unmerged).encode(), str(partial).encode(), ctypes.byref(params)
            )
        if failed:
            raise MergeError(f"llama.cpp could not quantize {unmerged}")
        partial.replace(out_path)
    finally:
        unmerged.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return out_path
