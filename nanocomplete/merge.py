"""Folding a GGUF LoRA adapter into its GGUF base: the adapter's quality at the base's speed; and a base
with fully fine-tuned weights in place of its own (`replace_weights`), re-quantized the same way.

Applied at load time, an adapter costs ~20% of generation speed (docs/training.md); `models.pull` of an
adapter model and `python -m nanocomplete.train.export --merge-into` write the merged file instead. Each
adapted weight is dequantized by gguf-py, W + (alpha/r)·B·A is added in float32, and llama.cpp's own
quantizer re-quantizes the model to Q4_K_M (Q5_0 where rows of 896 do not fit K-quants). The size is the
base's to the byte, but the quantizer's per-layer policy re-types 32 of the 291 tensors of the offline
0.5B (ffn_down Q6_K ↔ Q4_K, attn_v Q8_0 ↔ Q5_0), untouched ones included: an open defect
(docs/numerics.md). Re-quantizing an adapted weight alone moves log-probs by a few tenths of a nat.

Imports gguf and llama-cpp-python only: the registry can merge without the training extra (torch).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

ARCHITECTURE = "qwen2"
DEFAULT_TENSOR_TYPE = "Q4_K_M"  # the offline base's scheme (with llama.cpp's fallbacks for 896-wide rows)


class MergeError(ValueError):
    pass


def merge(
    base_gguf: Path | str,
    adapter_gguf: Path | str,
    out_path: Path | str,
    threads: int = 0,
    progress: bool = False,
    verbose: bool = False,
    tensor_type: str = DEFAULT_TENSOR_TYPE,
) -> Path:
    """The base GGUF with a GGUF LoRA adapter folded into its weights (W + alpha/r · B·A), re-quantized by
    llama.cpp to `tensor_type` (a `LLAMA_FTYPE_MOSTLY_*` name: Q4_K_M with its fallbacks by default; but
    see the module docstring: the quantizer's policy also re-types some tensors): the adapter's quality
    without its run-time cost. Adapted weights are dequantized by gguf-py and changed in float32, so they
    are rounded once, to the new type; the others are copied until the quantizer reads them.

    llama.cpp's quantizer logs a line per tensor (~300): they are kept from the terminal and drive one
    progress bar (`progress`), or pass through (`verbose`); a failure quotes the log's last lines.
    Raises MergeError for a file that is not a LoRA adapter or that llama.cpp cannot quantize."""
    import gguf

    adapter = gguf.GGUFReader(str(adapter_gguf))
    if adapter.get_field(gguf.Keys.Adapter.TYPE) is None:
        raise MergeError(f"{adapter_gguf} is not a GGUF LoRA adapter")
    alpha = float(adapter.get_field(gguf.Keys.Adapter.LORA_ALPHA).contents())
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for tensor in adapter.tensors:
        weight, _, part = tensor.name.rpartition(".lora_")
        pairs.setdefault(weight, {})[part] = np.asarray(tensor.data, dtype=np.float32)
    rank = next(iter(pairs.values()))["a"].shape[0]
    scale = alpha / rank

    def merged(tensor) -> np.ndarray:
        from gguf.quants import dequantize

        lora = pairs[tensor.name]
        weight = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        return weight + scale * (lora["b"] @ lora["a"])

    return _requantized(base_gguf, set(pairs), merged, out_path, threads, progress, verbose, tensor_type)


def replace_weights(
    base_gguf: Path | str,
    weights: Mapping[str, np.ndarray],
    out_path: Path | str,
    threads: int = 0,
    progress: bool = False,
    verbose: bool = False,
) -> Path:
    """The base GGUF with the tensors named in `weights` (GGUF names, `blk.0.attn_q.weight`; float32 in
    numpy's row-major shape, (out, in) as in transformers) put in place of the base's, re-quantized as
    `merge` does: what full fine-tuning exports. Raises MergeError for a name the base lacks or a shape
    that differs from the base's."""
    import gguf

    tensors = {tensor.name: tensor for tensor in gguf.GGUFReader(str(base_gguf)).tensors}
    for name, weight in weights.items():
        if name not in tensors:
            raise MergeError(f"{name}: no such tensor in {base_gguf}")
        expected = tuple(int(n) for n in reversed(tensors[name].shape))
        if tuple(weight.shape) != expected:
            raise MergeError(f"{name}: shape {tuple(weight.shape)}, the base's is {expected}")
    return _requantized(
        base_gguf,
        set(weights),
        lambda tensor: np.asarray(weights[tensor.name], dtype=np.float32),
        out_path,
        threads,
        progress,
        verbose,
    )


def _requantized(
    base_gguf: Path | str,
    changed: set[str],
    new_weight: Callable[[object], np.ndarray],
    out_path: Path | str,
    threads: int,
    progress: bool,
    verbose: bool,
    tensor_type: str = DEFAULT_TENSOR_TYPE,
) -> Path:
    """The base's tensors, `new_weight(tensor)` in float32 for those named in `changed`, re-quantized by
    llama.cpp to `tensor_type` into `out_path` (written whole or not at all). MergeError for a type
    llama.cpp does not name."""
    import gguf
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{tensor_type.upper()}", None)
    if ftype is None:
        raise MergeError(f"llama.cpp has no tensor type {tensor_type!r} (LLAMA_FTYPE_MOSTLY_*)")
    out_path = Path(out_path)
    reader = gguf.GGUFReader(str(base_gguf))
    unmerged = out_path.with_suffix(".f32.partial")
    try:
        _write_unmerged(reader, changed, new_weight, unmerged)
    except BaseException:
        unmerged.unlink(missing_ok=True)
        raise
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.allow_requantize = True
    partial = out_path.with_suffix(out_path.suffix + ".partial")
    try:
        with quantizer_log(len(reader.tensors), progress, verbose) as log:
            failed = llama_cpp.llama_model_quantize(
                str(unmerged).encode(), str(partial).encode(), ctypes.byref(params)
            )
        if failed:
            raise MergeError(f"llama.cpp could not quantize {unmerged}: {''.join(log[-5:]).strip()}")
        partial.replace(out_path)
    finally:
        unmerged.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return out_path


def _write_unmerged(reader, changed: set[str], new_weight, unmerged: Path) -> None:
    """The base's tensors, `new_weight(tensor)` in float32 for those in `changed`, into `unmerged` (GGUF)."""
    import gguf

    writer = gguf.GGUFWriter(str(unmerged), ARCHITECTURE)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    for tensor in reader.tensors:
        if tensor.name in changed:
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
        writer.write_tensor_data(new_weight(tensor) if tensor.name in changed else tensor.data)
    writer.close()


_TENSOR_LINE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")  # "[  12/ 291] blk.0.attn_q.weight - ..."


class _LogLines(io.TextIOBase):
    """A text stream that keeps whole lines and moves a progress bar on each "[ n/ N]" line."""

    def __init__(self, bar: tqdm):
        self.lines: list[str] = []
        self._bar, self._partial, self._lock = bar, "", threading.Lock()

    @property
    def pending(self) -> bool:
        return bool(self._partial)

    def write(self, text: str) -> int:
        with self._lock:
            *whole, self._partial = (self._partial + text).split("\n")
            for line in whole:
                self.lines.append(line + "\n")
                found = _TENSOR_LINE.match(line)
                if found:
                    self._bar.update(int(found[1]) - self._bar.n)
        return len(text)


@contextlib.contextmanager
def quantizer_log(tensors: int, progress: bool, verbose: bool) -> Iterator[list[str]]:
    """While the body runs, what the process writes to its stdout and stderr goes into the yielded list of
    lines instead of the terminal, both from C (llama.cpp's file descriptors 1 and 2) and from Python
    (llama-cpp-python's log callback prints to sys.stderr), and "[ n/ N]" lines move a progress bar on the
    real stderr. With `verbose`, everything passes through and the list stays empty."""
    llama_log = logging.getLogger("llama-cpp-python")  # its callback prints records at this level or above
    level = llama_log.level
    llama_log.setLevel(logging.INFO)  # a loaded Llama(verbose=False) set ERROR: the tensor lines are INFO
    try:
        if verbose:
            yield []
        else:
            with _captured(tensors, progress) as lines:
                yield lines
    finally:
        llama_log.setLevel(level)


@contextlib.contextmanager
def _captured(tensors: int, progress: bool) -> Iterator[list[str]]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    read_end, write_end = os.pipe()
    terminal = os.fdopen(os.dup(saved[1]), "w")
    bar = tqdm(total=tensors, desc="merge: quantize", unit="tensor", file=terminal, disable=not progress)
    log = _LogLines(bar)

    def pump() -> None:
        with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as pipe:
            for line in pipe:
                log.write(line)

    reader = threading.Thread(target=pump, name="quantizer-log", daemon=True)
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    reader.start()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield log.lines
    finally:
        _flush_c_stdio()  # what C buffered goes into the pipe, not to the terminal after the restore
        os.dup2(saved[0], 1)  # the pipe's last write ends close here, so the reader sees its end
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        reader.join(timeout=10)
        log.write("\n" if log.pending else "")  # a last line without its newline still counts
        bar.close()
        terminal.close()


def _flush_c_stdio() -> None:
    """fflush(NULL): every C stdio stream of the process (where libc can be loaded)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)
