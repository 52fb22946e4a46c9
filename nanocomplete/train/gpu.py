"""A training run on a lent GPU machine, in the pieces its limits allow (docs/training.md, "The GPU run";
`runs/gpu_train.sh` prepares it and prints the calls).

The machine (the device tool): one H200, 15 minutes of device time in all, its start included; each call
carries the repository's working tree plus the paths named in `carry`, 64 MiB together; the machine stays
warm 30 s between calls and starts bare after that; at most 8 files of 16 MiB, 64 MiB together, come back
from a call; nothing can be downloaded there, and it has torch, transformers, peft and accelerate but not
this package's other dependencies. So:

    here:   python -m nanocomplete.train.gpu pack --data DIR --out .gpu      # base GGUF + data → parts
    there:  python3 -m nanocomplete.train.gpu receive .gpu/part-NN --store /tmp/nc-gpu   # one call per part
    there:  python3 -m nanocomplete.train.gpu train --store /tmp/nc-gpu --return-dir $OUT --budget-s S \\
                -- TRAINER FLAGS                                            # reassemble, train, pack back
    there:  python3 -m nanocomplete.train.gpu send --from K --return-dir $OUT   # the pieces one call left
    here:   python -m nanocomplete.train.gpu collect FILES_AT [FILES_AT ...] --out out/train/gpu-run

Every part and the whole bundle carry a SHA-256 (`bundle.json`), and so do the pieces that come back
(`return.json`): a part or piece damaged in transfer is refused, never trained on or exported. `train`
resumes from the checkpoint of an earlier call on the same machine (the trainer's `--resume`), so a second
call can go on where a first one ran out of time. Only the standard library and the trainer's own imports
are used (no tree-sitter, no llama.cpp): the data is built here.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

from nanocomplete.storage import file_sha256

MIB = 2**20
TREE_LIMIT_BYTES = 64 * MIB  # what one call may carry: the working tree plus the carried part
RETURN_FILE_BYTES = 15 * MIB  # a returned file must stay under 16 MiB
RETURN_FILES = 8  # files that come back from one call, the manifest included
RETURN_CALL_BYTES = 63 * MIB  # what one call brings back: 64 MiB together, the manifest beside the pieces
BUNDLE = "bundle.json"
RETURNED = "return.json"
BASE_FILE = "base.gguf"
DATA_ARCHIVE = "data.tar.xz"


class TransferError(Exception):
    """A part or piece is missing or does not match its recorded SHA-256."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- here: the bundle and its parts ----------------------------------------------------------------------


def travelling_tree_bytes(repo: Path) -> int:
    """Bytes of what every device call sends anyway: tracked and untracked-not-ignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo, capture_output=True, check=True,
    ).stdout  # fmt: skip
    paths = [repo / name for name in listed.decode().split("\0") if name]
    return sum(path.stat().st_size for path in paths if path.is_file())


def pack(base: Path, data_dir: Path, out: Path, part_bytes: int, wheels: Sequence[Path] = ()) -> dict:
    """Write the bundle (the base GGUF, the data's shards and manifest compressed with xz, and `wheels`
    for packages the machine lacks) as `out/part-NN/` folders of at most `part_bytes` each, every one with
    the bundle's manifest. Returns the manifest."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    bundle = out / "bundle.tar"
    with tarfile.open(bundle, "w") as tar:
        tar.add(base, arcname=BASE_FILE)
        tar.addfile(*_member(DATA_ARCHIVE, _data_archive(data_dir)))
        for wheel in wheels:
            tar.add(wheel, arcname=f"wheels/{wheel.name}")
    parts = []
    with open(bundle, "rb") as f:
        for index, chunk in enumerate(iter(lambda: f.read(part_bytes), b"")):
            name = f"part-{index:02d}"
            (out / name).mkdir()
            (out / name / "slice.bin").write_bytes(chunk)
            parts.append({"name": name, "bytes": len(chunk), "sha256": sha256_bytes(chunk)})
    manifest = {
        "bytes": bundle.stat().st_size,
        "sha256": file_sha256(bundle),
        "parts": parts,
        "base": base.name,
        "wheels": [wheel.name for wheel in wheels],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for part in parts:
        (out / part["name"] / BUNDLE).write_text(json.dumps(manifest, indent=1) + "\n")
    bundle.unlink()
    return manifest


def _data_archive(data_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for path in sorted(data_dir.iterdir()):
            if path.is_file() and (path.suffix == ".jsonl" or path.name == "manifest.json"):
                tar.add(path, arcname=f"data/{path.name}")
    return buffer.getvalue()


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, io.BytesIO(data)


# --- there: receive, reassemble, train, pack the result ---------------------------------------------------


def receive(part_dir: Path, store: Path) -> tuple[int, int]:
    """Check one part against its SHA-256 and keep it in `store`. Returns (parts held, parts in all)."""
    manifest = json.loads((part_dir / BUNDLE).read_text())
    entry = next(p for p in manifest["parts"] if p["name"] == part_dir.name)
    data = (part_dir / "slice.bin").read_bytes()
    if sha256_bytes(data) != entry["sha256"]:
        raise TransferError(f"{part_dir.name}: SHA-256 differs from the bundle's manifest; send it again")
    store.mkdir(parents=True, exist_ok=True)
    _check_same_bundle(store, manifest)
    partial = store / f"{part_dir.name}.partial"
    partial.write_bytes(data)
    partial.rename(store / f"{part_dir.name}.bin")
    held = sum((store / f"{p['name']}.bin").is_file() for p in manifest["parts"])
    return held, len(manifest["parts"])


def _check_same_bundle(store: Path, manifest: dict) -> None:
    recorded = store / BUNDLE
    if recorded.is_file() and json.loads(recorded.read_text())["sha256"] != manifest["sha256"]:
        raise TransferError(f"{store} holds parts of another bundle; use another --store")
    recorded.write_text(json.dumps(manifest))


def unpack(store: Path) -> Path:
    """Reassemble the parts in `store`, check the bundle's SHA-256, and extract it into `store/bundle/`
    (once). Returns that folder: base.gguf, data/, wheels/."""
    manifest = json.loads((store / BUNDLE).read_text())
    target = store / "bundle"
    if (target / ".complete").is_file():
        return target
    missing = [p["name"] for p in manifest["parts"] if not (store / f"{p['name']}.bin").is_file()]
    if missing:
        raise TransferError(f"parts not received yet: {', '.join(missing)}")
    whole = store / "bundle.tar"
    digest = hashlib.sha256()
    with open(whole, "wb") as out:
        for part in manifest["parts"]:
            data = (store / f"{part['name']}.bin").read_bytes()
            digest.update(data)
            out.write(data)
    if digest.hexdigest() != manifest["sha256"]:
        raise TransferError("the reassembled bundle's SHA-256 differs from its manifest")
    with tarfile.open(whole) as tar:
        tar.extractall(target, filter="data")
    with tarfile.open(target / DATA_ARCHIVE) as tar:
        tar.extractall(target, filter="data")
    whole.unlink()
    (target / ".complete").write_text(manifest["sha256"])
    return target


def train(
    store: Path,
    return_dir: Path,
    budget_s: float,
    trainer_args: Sequence[str],
    piece_bytes: int = RETURN_FILE_BYTES,
    call_bytes: int = RETURN_CALL_BYTES,
) -> dict:
    """Unpack the bundle, train on its base and data for at most `budget_s` seconds (resuming a run an
    earlier call left in `store/run`), and cut the run (adapter, config, log, loss plot) into pieces kept in
    `store/return`. The first pieces that fit one call's return (`call_bytes`, 7 files) go to `return_dir`
    with the manifest; `send` brings the rest in later calls. Returns the manifest, with "sent" (the pieces
    in this call) and "next" (the first piece left, or None)."""
    bundle = unpack(store)
    for wheel in sorted((bundle / "wheels").glob("*.whl")):
        sys.path.insert(0, str(wheel))  # pure-Python wheels import from the zip
    from nanocomplete.train import trainer

    run = store / "run"
    args = trainer.make_parser().parse_args(
        [
            "--data", str(bundle / "data"), "--out", str(run), "--base-model", str(bundle / BASE_FILE),
            "--max-train-seconds", str(budget_s), *trainer_args,
        ]
    )  # fmt: skip
    config = trainer.config_from_args(args)
    started = time.perf_counter()
    trainer.train(config, resume=(run / "config.json").is_file(), progress=False)
    send_back(run, store / "return", piece_bytes, {"train_seconds": time.perf_counter() - started})
    return forward(store / "return", return_dir, first=0, call_bytes=call_bytes)


def send_back(run: Path, kept: Path, piece_bytes: int, extra: dict) -> dict:
    """The run's adapter, config, log and plot as one gzip'd tar, cut into pieces under `piece_bytes` in
    `kept` (emptied first), with `return.json` (SHA-256 of each piece and of the whole). Returns it."""
    from nanocomplete.train.trainer import ADAPTER

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if (run / ADAPTER).is_dir():
            tar.add(_half_precision_copy(run / ADAPTER, run / "adapter-f16"), arcname=ADAPTER)
        for name in ("config.json", "log.jsonl", "loss.png"):
            if (run / name).exists():
                tar.add(run / name, arcname=name)
    data = buffer.getvalue()
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir(parents=True)
    names = []
    for index, start in enumerate(range(0, len(data), piece_bytes)):
        piece, name = data[start : start + piece_bytes], f"run-{index:02d}.bin"
        (kept / name).write_bytes(piece)
        names.append({"name": name, "bytes": len(piece), "sha256": sha256_bytes(piece)})
    manifest = {"sha256": sha256_bytes(data), "bytes": len(data), "pieces": names, **extra}
    (kept / RETURNED).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def forward(kept: Path, return_dir: Path, first: int, call_bytes: int = RETURN_CALL_BYTES) -> dict:
    """Copy the kept pieces from index `first` to `return_dir`, as many as one call brings back (at most
    `call_bytes` and RETURN_FILES − 1 files, the manifest being the last), with the manifest. Returns the
    manifest with "sent" (names) and "next" (the first piece still on the machine, or None). Raises
    ValueError when `first` is past the last piece, or one piece alone is over `call_bytes`."""
    manifest = json.loads((kept / RETURNED).read_text())
    pieces = manifest["pieces"]
    if not 0 <= first < len(pieces):
        raise ValueError(f"piece {first} does not exist: the run has {len(pieces)} pieces")
    return_dir.mkdir(parents=True, exist_ok=True)
    sent, total = [], 0
    for piece in pieces[first:]:
        if len(sent) == RETURN_FILES - 1 or total + piece["bytes"] > call_bytes:
            break
        shutil.copyfile(kept / piece["name"], return_dir / piece["name"])
        sent.append(piece["name"])
        total += piece["bytes"]
    if not sent:
        raise ValueError(f"{pieces[first]['name']} alone is over one call's {call_bytes} bytes")
    shutil.copyfile(kept / RETURNED, return_dir / RETURNED)
    following = first + len(sent)
    return {**manifest, "sent": sent, "next": following if following < len(pieces) else None}


def smoke(workdir: Path, trainer_args: Sequence[str]) -> dict:
    """Train a tiny random Qwen2 for two steps with `trainer_args`, on the device accelerate picks: checks the
    machine's torch, CUDA, bf16 autocast, peft and the batched loss in seconds, in the call that brings the
    first part, before the whole bundle is there. Returns {"device", "losses", "seconds"}."""
    import torch
    import transformers

    from nanocomplete.train import trainer

    shutil.rmtree(workdir, ignore_errors=True)
    torch.manual_seed(0)
    tiny = transformers.Qwen2Config(
        vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    transformers.Qwen2ForCausalLM(tiny).save_pretrained(str(workdir / "base"))
    rows = [
        {
            "id": f"ex{i}",
            "prompt_ids": [(i + j) % 50 + 2 for j in range(8 + i % 5)],
            "target_ids": [i % 7 + 3, 1],
        }
        for i in range(8)
    ]
    (workdir / "data").mkdir()
    (workdir / "data" / "train-00000.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (workdir / "data" / "manifest.json").write_text(json.dumps({"examples": len(rows)}))
    run = workdir / "run"
    args = trainer.make_parser().parse_args(
        [
            *trainer_args, "--data", str(workdir / "data"), "--out", str(run),
            "--base-model", str(workdir / "base"), "--batch-examples", "4", "--checkpoint-steps", "1",
        ]
    )  # fmt: skip
    started = time.perf_counter()
    trainer.train(trainer.config_from_args(args), progress=False)
    losses = [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {"device": device, "losses": losses, "seconds": round(time.perf_counter() - started, 1)}


def _half_precision_copy(adapter: Path, out: Path) -> Path:
    """`adapter` copied to `out` with its float32 tensors in float16, the precision the GGUF export writes
    anyway: half the bytes to send back (a rank-32 LoRA of the 1.5B is ~148 MB in float32, three calls'
    return; ~74 MB in float16, two: a train call and a `send`). The checkpoint that resumes stays float32."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(adapter, out)
    for weights in out.glob("*.safetensors"):
        tensors = load_file(str(weights))
        halved = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
        save_file(halved, str(weights), metadata={"format": "pt"})
    return out


# --- here again: collect ----------------------------------------------------------------------------------


def collect(folders: Sequence[Path], out: Path) -> Path:
    """Check the returned pieces against `return.json` and unpack the run into `out` (adapter/, config.json,
    log.jsonl, loss.png). The pieces may lie in several folders (one per call that brought some). Raises
    TransferError on a missing or damaged piece."""
    manifests = [folder / RETURNED for folder in folders if (folder / RETURNED).is_file()]
    if not manifests:
        raise TransferError(f"no {RETURNED} in {', '.join(map(str, folders))}")
    manifest = json.loads(manifests[0].read_text())
    data = b""
    for piece in manifest["pieces"]:
        found = [folder / piece["name"] for folder in folders if (folder / piece["name"]).is_file()]
        if not found:
            raise TransferError(f"{piece['name']} did not come back (a `send --from` call brings it)")
        chunk = found[0].read_bytes()
        if sha256_bytes(chunk) != piece["sha256"]:
            raise TransferError(f"{piece['name']}: SHA-256 differs from return.json")
        data += chunk
    if sha256_bytes(data) != manifest["sha256"]:
        raise TransferError("the reassembled run's SHA-256 differs from return.json")
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(out, filter="data")
    (out / RETURNED).write_text(json.dumps(manifest, indent=1) + "\n")
    return out


# --- command line -------------------------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nanocomplete.train.gpu", description=__doc__.split("\n")[0]
    )
    steps = parser.add_subparsers(dest="step", required=True)
    p = steps.add_parser(
        "pack", help="here: the base GGUF and the built data as parts that fit one call each"
    )
    p.add_argument("--data", type=Path, required=True, help="a built data folder (train.data build)")
    p.add_argument("--out", type=Path, default=Path(".gpu"), help="where the parts go (default: %(default)s)")
    p.add_argument("--base-model", default=None, help="registered model or .gguf (default: the trainer's)")
    p.add_argument("--wheel", type=Path, action="append", default=[], help="a wheel the machine lacks")
    p.add_argument("--part-mb", type=float, default=0, help="part size; 0: what the working tree leaves free")
    r = steps.add_parser("receive", help="there: check one part and keep it")
    r.add_argument("part", type=Path)
    r.add_argument("--store", type=Path, default=Path("/tmp/nc-gpu"))
    t = steps.add_parser("train", help="there: reassemble, train within a budget, pack the run to come back")
    t.add_argument("--store", type=Path, default=Path("/tmp/nc-gpu"))
    t.add_argument("--return-dir", type=Path, required=True, help="the device's $OUT")
    t.add_argument(
        "--budget-s", type=float, required=True, help="training seconds (the call's limit minus margin)"
    )
    t.add_argument("trainer_args", nargs=argparse.REMAINDER, help="trainer flags, after --")
    s = steps.add_parser("smoke", help="there: two steps of a tiny model with the trainer flags (a check)")
    s.add_argument("--workdir", type=Path, default=Path("/tmp/nc-gpu-smoke"))
    s.add_argument("trainer_args", nargs=argparse.REMAINDER, help="trainer flags, after --")
    b = steps.add_parser("send", help="there: the pieces of the run that an earlier call could not bring")
    b.add_argument("--store", type=Path, default=Path("/tmp/nc-gpu"))
    b.add_argument("--return-dir", type=Path, required=True, help="the device's $OUT")
    b.add_argument("--from", dest="first", type=int, required=True, help='the first piece (the last "next")')
    c = steps.add_parser("collect", help="here: verify the pieces that came back and unpack the run")
    c.add_argument("files", type=Path, nargs="+", help="the folders the device's files were copied to")
    c.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    started = time.perf_counter()
    if args.step == "pack":
        from nanocomplete import models
        from nanocomplete.train.trainer import TrainConfig

        base = models.resolve(args.base_model or TrainConfig.base_model)
        free = TREE_LIMIT_BYTES - travelling_tree_bytes(Path.cwd()) - 2 * MIB
        part_bytes = int(args.part_mb * MIB) if args.part_mb else free
        if part_bytes <= 0 or part_bytes > free:
            raise SystemExit(
                f"a part of {part_bytes} bytes does not fit beside the working tree ({free} free)"
            )
        manifest = pack(base, args.data, args.out, part_bytes, args.wheel)
        size = manifest["bytes"] / MIB
        print(
            f"{len(manifest['parts'])} parts of ≤ {part_bytes / MIB:.1f} MiB in {args.out} ({size:.0f} MiB)"
        )
    elif args.step == "receive":
        held, total = receive(args.part, args.store)
        print(
            f"received {args.part.name}: {held} of {total} parts held ({time.perf_counter() - started:.1f} s)"
        )
    elif args.step == "train":
        flags = [flag for flag in args.trainer_args if flag != "--"]
        _report(train(args.store, args.return_dir, args.budget_s, flags))
    elif args.step == "send":
        _report(forward(args.store / "return", args.return_dir, args.first))
    elif args.step == "smoke":
        print(json.dumps(smoke(args.workdir, [flag for flag in args.trainer_args if flag != "--"])))
    else:
        try:
            out = collect(args.files, args.out)
        except TransferError as error:
            raise SystemExit(f"not unpacked: {error}") from None
        print(f"verified and unpacked into {out}")
    return 0


def _report(manifest: dict) -> None:
    print(json.dumps({k: v for k, v in manifest.items() if k != "pieces"}))
    if manifest["next"] is not None:
        print(
            f"{len(manifest['pieces']) - manifest['next']} pieces stay on the machine: call at once "
            f"`python3 -m nanocomplete.train.gpu send --from {manifest['next']} --return-dir $OUT`"
        )


if __name__ == "__main__":
    sys.exit(main())
