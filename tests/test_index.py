"""The workspace index's walk and its bounds (no model: indexing is files and parsing)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from nanocomplete import index as index_module
from nanocomplete.config import IndexConfig
from nanocomplete.index import WorkspaceIndex, Workspaces

SOURCE = "def helper(value):\n    return value + 1\n"


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def varied_source(n: int, lines: int = 60) -> str:
    """Python whose names differ from line to line and file to file (what real code's index holds)."""
    return "".join(f"def f{n}_{i}(a{i}, b{n}):\n    return g{i}(a{i}) + h{n}_{i}\n" for i in range(lines))


def indexed(root: Path, **limits) -> set[str]:
    index = WorkspaceIndex(root, IndexConfig(**limits))
    index.refresh()
    return set(index.workspace.files)


def test_what_editors_skip_is_not_indexed(tmp_path):
    write(tmp_path, {
        "app/main.py": SOURCE,
        "web/src/App.tsx": "export const App = () => <div />;\n",
        ".git/hooks/hook.py": SOURCE,
        "node_modules/react/index.js": "module.exports = {};\n",
        "web/node_modules/lib/index.ts": "export const x = 1;\n",
        "env311/pyvenv.cfg": "home = /usr/bin\n",  # a virtual environment under any name
        "env311/lib/python3.11/site-packages/pkg/mod.py": SOURCE,
        "lib/python3/dist-packages/pkg/mod.py": SOURCE,
        "web/dist/bundle.js": "var a = 1;\n",
        ".hidden/tool.py": SOURCE,
        "app/__pycache__/main.py": SOURCE,
    })  # fmt: skip
    assert indexed(tmp_path) == {"app/main.py", "web/src/App.tsx"}


def test_files_that_commonly_hold_secrets_are_never_indexed_nor_their_unsaved_text(tmp_path):
    write(tmp_path, {
        "app/main.py": SOURCE,
        "app/app_secrets.ts": 'export const STRIPE_SECRET_KEY = "sk_live_x";\n',
        "shop/credentials.py": 'API_TOKEN = "tok_live_x"\n',
        "secrets/db.py": 'PASSWORD = "hunter2"\n',  # a folder the globs name: all of it
        "deploy/server.key": "-----BEGIN PRIVATE KEY-----\n",
        "app/keys.py": SOURCE,  # `*.key` is not `*key*`
    })  # fmt: skip
    assert indexed(tmp_path) == {"app/main.py", "app/keys.py"}
    index = WorkspaceIndex(tmp_path, IndexConfig(disabled_files="**/main.py"))  # the server's own setting
    index.refresh()
    index.update("app/secret_config.py", 'TOKEN = "x"\n')  # not named by this setting: indexed
    index.update("lib/main.py", SOURCE)  # an editor's unsaved text of a disabled file: not indexed
    assert set(index.workspace.files) == {
        "app/app_secrets.ts", "shop/credentials.py", "secrets/db.py", "app/keys.py", "app/secret_config.py"
    }  # fmt: skip


def test_gitignored_paths_are_not_indexed_at_any_depth_and_negations_hold(tmp_path):
    write(tmp_path, {
        ".gitignore": "generated/\n*_pb2.py\n!keep_pb2.py\n",
        "pkg/.gitignore": "/local.py\nfixtures/\n",
        "pkg/core.py": SOURCE,
        "pkg/local.py": SOURCE,
        "pkg/sub/local.py": SOURCE,  # `/local.py` is anchored to pkg/
        "pkg/fixtures/data.py": SOURCE,
        "pkg/api_pb2.py": SOURCE,
        "pkg/keep_pb2.py": SOURCE,
        "generated/models.ts": "export type A = 1;\n",
        "src/generated/more.ts": "export type B = 1;\n",
    })  # fmt: skip
    assert indexed(tmp_path) == {"pkg/core.py", "pkg/sub/local.py", "pkg/keep_pb2.py"}


def test_binary_huge_minified_and_undecodable_files_are_skipped(tmp_path):
    write(tmp_path, {
        "ok.py": SOURCE,
        "binary.py": b"x = 1\n\0\0\0\1\2",
        "huge.py": "x = 1\n" * 40_000,
        "bundle.min.js": "var a=1;" * 200 + "\n",
        "latin1.py": "name = 'caf\xe9'\n".encode("latin-1"),
    })  # fmt: skip
    index = WorkspaceIndex(tmp_path, IndexConfig(index_max_file_bytes=100_000))
    stats = index.refresh()
    assert set(index.workspace.files) == {"ok.py"}
    assert stats.skipped == 4


def test_links_are_never_followed_out_of_the_root_and_special_files_are_never_read(tmp_path):
    outside = tmp_path / "outside"
    write(outside, {"secret.py": "TOKEN = 'x'\n", "lib/more.py": SOURCE})
    root = tmp_path / "root"
    write(root, {"main.py": SOURCE})
    (root / "linked.py").symlink_to(outside / "secret.py")
    (root / "linked_dir").symlink_to(outside / "lib", target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    os.mkfifo(root / "pipe.py")  # reading it would block forever
    assert indexed(root) == {"main.py"}


@pytest.mark.parametrize(
    "limits, bound",
    [
        ({"index_max_files": 7}, "files"),
        ({"index_max_bytes": 10 * len(varied_source(0)) + 5}, "bytes"),
        ({"index_max_memory_mb": 1}, "memory"),
    ],
)
def test_a_pass_stops_at_each_bound_keeps_what_it_indexed_and_says_which(tmp_path, limits, bound):
    write(tmp_path, {f"pkg{n // 50}/mod{n}.py": varied_source(n) for n in range(200)})
    index = WorkspaceIndex(tmp_path, IndexConfig(**limits))
    stats = index.refresh()
    assert stats.capped_by == bound
    assert 0 < stats.files < 200
    assert len(index.workspace.files) <= limits.get("index_max_files", 200)
    assert index.indexed_bytes <= limits.get("index_max_bytes", 10**9)
    assert index.memory_bytes() <= limits.get("index_max_memory_mb", 10**6) * 2**20
    assert index.refresh().parsed == 0  # the next pass finds the same files unchanged


def test_a_pass_stops_at_its_time_bound(tmp_path):
    write(tmp_path, {f"d{n}/mod.py": SOURCE for n in range(300)})
    index = WorkspaceIndex(tmp_path, IndexConfig(index_max_seconds=0.001))
    started = time.perf_counter()
    stats = index.refresh()
    assert stats.capped_by == "time" and stats.files < 300
    assert time.perf_counter() - started < 1.0


def test_a_file_deleted_from_a_capped_workspace_leaves_the_index(tmp_path):
    write(tmp_path, {f"mod{n}.py": SOURCE for n in range(10)})
    index = WorkspaceIndex(tmp_path, IndexConfig(index_max_files=5))
    index.refresh()
    first = sorted(index.workspace.files)[0]
    (tmp_path / first).unlink()
    index.refresh()
    assert first not in index.workspace.files and len(index.workspace.files) == 5


def test_one_pass_runs_per_workspace_however_often_it_is_asked_for(tmp_path):
    write(tmp_path, {f"d{n}/mod{n}.py": SOURCE * 20 for n in range(400)})
    workspaces = Workspaces()
    for _ in range(50):
        index = workspaces.get(str(tmp_path))
    running = [t for t in threading.enumerate() if t.name == "nanocomplete-index"]
    assert len(running) <= 1
    deadline = time.monotonic() + 60
    while index.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert index.passes == 1 and len(index.workspace.files) == 400
    workspaces.get(str(tmp_path))
    assert index.passes == 1 and not index.running  # the next pass waits REFRESH_INTERVAL_S at least


def test_the_least_recently_used_workspace_is_dropped_past_the_bound(tmp_path):
    roots = []
    for n in range(3):
        write(tmp_path / f"p{n}", {"main.py": SOURCE})
        roots.append(str(tmp_path / f"p{n}"))
    workspaces = Workspaces(IndexConfig(index_max_workspaces=2))
    for root in roots:
        workspaces.get(root)
    assert [index.root.name for index in workspaces.all()] == ["p1", "p2"]


@pytest.mark.parametrize("root", ["relative/path", "/nonexistent/folder", ""])
def test_a_root_that_is_not_an_absolute_folder_gets_no_index(root):
    assert Workspaces().get(root) is None


@pytest.mark.parametrize(
    "limits", [{"index_max_files": 0}, {"index_max_seconds": -1.0}, {"index_max_workspaces": 0}]
)
def test_bounds_must_be_positive(limits):
    with pytest.raises(ValueError, match="must be positive"):
        IndexConfig(**limits)


def test_an_editors_unsaved_text_does_not_count_the_file_twice_against_the_bounds(tmp_path):
    write(tmp_path, {"a.py": SOURCE, "b.py": SOURCE})
    index = WorkspaceIndex(tmp_path)
    index.refresh()
    before = index.indexed_bytes
    index.update("a.py", SOURCE + "x = 1\n")
    index.refresh()  # rereads the disk version of a.py
    assert index.indexed_bytes == before == 2 * len(SOURCE)


def test_a_tsconfig_of_unclosed_comments_strings_or_brackets_is_read_in_bounded_time():
    import time

    from nanocomplete.index import _read_jsonc

    assert _read_jsonc('{// c\n "o": {/* x */ "p": ["/* not a comment */",],}}') == {
        "o": {"p": ["/* not a comment */"]}
    }
    for text in ("/*x" * 40_000, '"' * 40_000, "[" * 10_000):  # 21.7 s, and a RecursionError, before
        started = time.monotonic()
        with pytest.raises(ValueError):
            _read_jsonc(text)
        assert time.monotonic() - started < 1.0


def test_a_fifo_where_a_source_file_was_listed_is_skipped_without_blocking(tmp_path):
    import os

    from nanocomplete.index import _read_regular_file

    fifo = tmp_path / "a.py"
    os.mkfifo(fifo)  # no writer: a blocking open would wait for one for ever
    assert _read_regular_file(fifo, 1000) is None
    (tmp_path / "b.py").write_text("x = 1\n")
    assert _read_regular_file(tmp_path / "b.py", 1000) == b"x = 1\n"


def test_the_memory_estimate_follows_a_file_made_of_imports(tmp_path):
    import gc
    import tracemalloc

    from nanocomplete.workspace import parse_file

    text = ("import " + ",".join(["a"] * 495) + "\n") * 100  # 100 KB, 49,500 imported names
    gc.collect()
    tracemalloc.start()
    parsed = parse_file("m.py", text)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert index_module.estimated_bytes(parsed) >= 0.5 * held  # it was 1/57 of it without the imports' term
    write(tmp_path, {"m.py": text})
    index = WorkspaceIndex(tmp_path, IndexConfig())
    index.refresh()
    assert index.memory_bytes() == index_module.estimated_bytes(parsed)  # the counts match the file's sum
