"""The prepared GPU run (train/gpu.py), dry-run on this CPU at a tiny scale: the same steps the lent machine
runs (pack into parts here, receive each part there, reassemble and train, send the run back in pieces,
verify and unpack it here), with the device's folders as local ones and a tiny Qwen2 as the base."""

import json
import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from safetensors.torch import load_file  # noqa: E402
from test_trainer import records, tiny_qwen2, write_shard  # noqa: E402

from nanocomplete.train import gpu, trainer  # noqa: E402

PART_BYTES = 40_000
PIECE_BYTES = 30_000


@pytest.fixture
def packed(tmp_path):
    base = tmp_path / "tiny.gguf"
    base.write_bytes(random.Random(0).randbytes(150_000))  # stands for the GGUF: only its bytes travel
    write_shard(tmp_path / "data", records(12))
    (tmp_path / "data" / "manifest.json").write_text('{"examples": 12}')
    manifest = gpu.pack(base, tmp_path / "data", tmp_path / "here" / ".gpu", PART_BYTES)
    return tmp_path, manifest


def test_the_bundle_is_cut_into_parts_that_each_fit_a_call(packed):
    tmp_path, manifest = packed
    parts = sorted((tmp_path / "here" / ".gpu").iterdir())
    assert [p.name for p in parts] == [p["name"] for p in manifest["parts"]] and len(parts) >= 4
    assert all((p / "slice.bin").stat().st_size <= PART_BYTES for p in parts)
    assert sum(p["bytes"] for p in manifest["parts"]) == manifest["bytes"]


def test_a_dry_run_trains_and_returns_an_adapter_that_is_verified_here(packed, monkeypatch):
    tmp_path, _ = packed
    store, returned = tmp_path / "there" / "store", tmp_path / "there" / "OUT"
    parts = sorted((tmp_path / "here" / ".gpu").iterdir(), reverse=True)  # any order
    held = [gpu.receive(part, store) for part in parts]
    assert held[-1] == (len(parts), len(parts))
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2(seed=1))
    flags = [
        "--batch-examples",
        "4",
        "--micro-batch-examples",
        "2",
        "--lora-rank",
        "4",
        "--precision",
        "fp32",
    ]
    # a first call runs out of time after one step; the second goes on from its checkpoint
    gpu.train(store, returned, budget_s=1e-9, trainer_args=flags, piece_bytes=PIECE_BYTES)
    assert _steps(gpu.collect([returned], tmp_path / "here" / "first")) == [1]
    returned = tmp_path / "there" / "OUT0"  # each call's $OUT starts empty
    sent = gpu.train(store, returned, 600, flags, piece_bytes=PIECE_BYTES, call_bytes=PIECE_BYTES)
    # more than one call brings back (as the 1.5B's 68 MB did on 2026-12-04): `send` calls bring the rest
    calls = [returned]
    while sent["next"] is not None:
        calls.append(tmp_path / "there" / f"OUT{len(calls)}")
        sent = gpu.forward(store / "return", calls[-1], first=sent["next"], call_bytes=PIECE_BYTES)
    assert len(calls) == len(sent["pieces"]) >= 2  # here: one piece a call
    assert all(sum(f.stat().st_size for f in c.glob("run-*")) <= PIECE_BYTES for c in calls)
    assert all(len(list(c.iterdir())) <= gpu.RETURN_FILES for c in calls)
    with pytest.raises(gpu.TransferError, match="did not come back"):
        gpu.collect(calls[:1], tmp_path / "here" / "partial")
    run = gpu.collect(calls, tmp_path / "here" / "run")
    adapter = run / "adapter" / "adapter_model.safetensors"
    trained = load_file(str(store / "run" / "adapter" / "adapter_model.safetensors"))
    returned = load_file(str(adapter))  # float16 on the way back: the precision the GGUF export writes
    assert returned.keys() == trained.keys() and all(t.dtype == torch.float16 for t in returned.values())
    assert all(torch.equal(returned[k], trained[k].half()) for k in trained)
    assert _steps(run) == [1, 2, 3]


def _steps(run):
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_a_part_damaged_in_transfer_is_refused(packed):
    tmp_path, _ = packed
    part = sorted((tmp_path / "here" / ".gpu").iterdir())[1]
    data = bytearray((part / "slice.bin").read_bytes())
    data[100] ^= 1
    (part / "slice.bin").write_bytes(bytes(data))
    with pytest.raises(gpu.TransferError, match="SHA-256"):
        gpu.receive(part, tmp_path / "store")


def test_training_waits_for_every_part(packed):
    tmp_path, _ = packed
    first = sorted((tmp_path / "here" / ".gpu").iterdir())[0]
    gpu.receive(first, tmp_path / "store")
    with pytest.raises(gpu.TransferError, match="not received"):
        gpu.unpack(tmp_path / "store")


def test_a_piece_damaged_on_the_way_back_is_refused(packed, monkeypatch):
    tmp_path, _ = packed
    store, returned = tmp_path / "store", tmp_path / "OUT"
    for part in sorted((tmp_path / "here" / ".gpu").iterdir()):
        gpu.receive(part, store)
    monkeypatch.setattr(trainer, "load_base", lambda name: tiny_qwen2(seed=1))
    gpu.train(store, returned, 600, ["--batch-examples", "4", "--precision", "fp32"], PIECE_BYTES)
    piece = returned / "run-00.bin"
    piece.write_bytes(piece.read_bytes()[:-1] + b"\0")
    with pytest.raises(gpu.TransferError, match="run-00"):
        gpu.collect([returned], tmp_path / "run")


def test_the_steps_on_the_machine_import_nothing_it_lacks():
    """The lent machine has torch, transformers, peft, accelerate, tqdm, numpy and matplotlib, but none of
    this package's other dependencies (../.library/device/KINDS.md)."""
    import subprocess
    import sys

    absent = ["platformdirs", "tree_sitter", "tree_sitter_language_pack", "llama_cpp", "pydantic", "fastapi",
              "starlette", "uvicorn", "httpx", "gguf", "rich"]  # fmt: skip
    code = (
        "import sys\n"
        f"class Block:\n"
        f"    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {absent!r}: raise ImportError('not on the machine: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import nanocomplete.train.gpu, nanocomplete.train.trainer\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_tracked_tree_leaves_each_gpu_call_room_for_a_large_part():
    """Every device call carries the working tree, so each MiB of it is a MiB less of the base model per
    call: at 43 MiB tracked (the released r32 adapter is 33.6 MiB of it), the 1.5B's 1.1 GB GGUF travels in
    ~57 parts of ~19 MiB, ~4 s a call; the bound leaves 3 MiB of growth (docs/training.md shows how to
    leave the adapter behind for 53 MiB parts). The replay records are gzip'd for this (uncompressed they had grown the tree by 15 MB)."""
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
    tracked = sum(
        (repo / name).stat().st_size for name in listed.decode().split("\0") if (repo / name).is_file()
    )
    assert tracked <= 46 * gpu.MIB, f"{tracked / gpu.MIB:.1f} MiB tracked: compress or drop records"


def test_the_smoke_check_trains_a_tiny_model_two_steps_with_the_run_flags(tmp_path):
    # fp32: one process holds one accelerate state, and the other tests here set fp32
    flags = ["--lora-rank", "8", "--micro-batch-examples", "2", "--precision", "fp32", "--warmup-steps", "1"]
    result = gpu.smoke(tmp_path / "smoke", flags)
    assert result["device"] == ("cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name())
    assert len(result["losses"]) == 2 and all(0 < loss < 10 for loss in result["losses"])
