"""The package's structure, read from its own imports (every `import`, at module level or inside a
function): the layers of the README's Architecture section, no cycle, evaluation and training apart, a
registry that needs no training code, and pure modules that do no I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nanocomplete"

# The README's layers, top to bottom: a module may import its own layer and the layers below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__", "cli"),
    ("launcher",),
    ("server", "bench", "replay", "evals", "train"),
    ("tiers",),
    ("service",),
    ("completion", "scheduler", "kvcache", "index", "telemetry"),
    ("prompt", "context", "postprocess", "engine", "workspace", "corpus", "typist", "peer"),
    ("models", "syntax", "api"),
    ("merge", "storage", "machine", "draft"),
    ("config", "errors", "fim", "adapters", ""),  # "": the package's own __init__ (its version)
)
# Pure: text and token ids in, text and token ids out; no files, processes, sockets or model runtime.
PURE = (
    "draft",
    "prompt",
    "context",
    "postprocess",
    "syntax",
    "workspace",
    "corpus.files",
    "corpus.imports",
    "evals.crossfile_examples",
    "train.cursors",
    "typist",
    "peer",
)
IO_MODULES = {
    "os",
    "io",
    "pathlib",
    "shutil",
    "subprocess",
    "socket",
    "sqlite3",
    "tempfile",
    "urllib",
    "httpx",
}
IO_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "unlink", "mkdir"}
MODEL_RUNTIMES = {"llama_cpp", "torch", "transformers", "peft", "accelerate"}


def module_name(path: Path) -> str:
    """`nanocomplete/evals/runner.py` → "evals.runner"; a package's __init__ → the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, ast.Module]:
    return {module_name(path): ast.parse(path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))}


@cache
def imports() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per module: (the package's modules it imports, the top-level external modules it imports)."""
    known = set(modules())
    found = {}
    for name, tree in modules().items():
        ours, theirs = set(), set()
        is_package = (PACKAGE / name.replace(".", "/") / "__init__.py").is_file() if name else True
        here = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "nanocomplete":
                        ours.add(alias.name.removeprefix("nanocomplete").lstrip("."))
                    else:
                        theirs.add(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1] if here else []
                    base = ".".join(["nanocomplete", *filter(None, up), *([base] if base else [])])
                if base.split(".")[0] != "nanocomplete":
                    theirs.add(base.split(".")[0])
                    continue
                base = base.removeprefix("nanocomplete").lstrip(".")
                for alias in node.names:
                    full = f"{base}.{alias.name}".lstrip(".")
                    ours.add(full if full in known else base)
        found[name] = (frozenset(ours - {name}), frozenset(theirs))
    return found


def layer_of(name: str) -> int:
    top = name.split(".")[0]
    for rank, layer in enumerate(LAYERS):
        if top in layer:
            return rank
    raise AssertionError(f"nanocomplete.{name} is in no layer: add it to LAYERS and the README")


def reachable(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for imported in imports()[todo.pop()][0]:
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def test_every_module_has_a_layer_and_imports_only_its_own_and_lower_layers():
    assert all(layer_of(name) >= 0 for name in modules())  # each names its layer or fails here
    upward = [
        f"{name} (layer {layer_of(name)}) imports {imported} (layer {layer_of(imported)})"
        for name, (ours, _) in imports().items()
        for imported in ours
        if layer_of(imported) < layer_of(name)
    ]
    assert not upward


def test_the_package_imports_form_no_cycle():
    cycles = sorted(name for name in imports() if name in reachable(name))
    assert not cycles, f"modules on an import cycle: {cycles}"


@pytest.mark.parametrize(("package", "other"), [("evals", "train"), ("train", "evals")])
def test_evaluation_and_training_never_import_each_other(package, other):
    crossing = [
        f"{name} imports {imported}"
        for name, (ours, _) in imports().items()
        if name.split(".")[0] == package
        for imported in ours
        if imported.split(".")[0] == other
    ]
    assert not crossing


def test_the_corpus_imports_neither_evaluation_nor_training():
    corpus = [name for name in imports() if name.split(".")[0] == "corpus"]
    assert len(corpus) >= 5
    assert not {m.split(".")[0] for name in corpus for m in reachable(name)} & {"evals", "train"}


def test_the_registry_and_merging_need_no_training_code_and_no_torch():
    for name in ("models", "merge"):
        ours = reachable(name) | {name}
        assert not {m for m in ours if m.split(".")[0] == "train"}, name
        assert not set().union(*(imports()[m][1] for m in ours)) & {"torch", "transformers", "peft"}, name
    assert imports()["merge"][0] == frozenset()  # gguf, llama-cpp-python and numpy only


def test_the_model_list_and_merge_load_with_torch_unimportable():
    blocked = "import sys\nfor m in ('torch', 'transformers', 'peft', 'accelerate'): sys.modules[m] = None\n"
    run = (
        blocked
        + "from nanocomplete import merge, models\nfrom nanocomplete.cli import main\nsys.exit(main(['models']))\n"
    )
    result = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "nanocomplete-0.5b" in result.stdout


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_do_no_io_and_load_no_model_runtime(name):
    _, theirs = imports()[name]
    assert not theirs & IO_MODULES
    runtimes = set().union(*(imports()[m][1] for m in reachable(name) | {name})) & MODEL_RUNTIMES
    assert not runtimes
    calls = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(modules()[name])
        if isinstance(node, ast.Call)
    }
    assert not calls & IO_CALLS
