"""A huge or hostile `workspace_root` against the real server and model: indexing stays within its bounds,
in the background, and a completion never waits for it."""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest
from server_harness import RunningServer

from nanocomplete.bench import synthetic_tree
from nanocomplete.config import IndexConfig

TREE_FILES = 50_000
INDEX = IndexConfig(index_max_files=4_000, index_max_memory_mb=96, index_max_seconds=45.0)


def complete(client, uri: str, prefix: str, **extra) -> tuple[dict, float]:
    started = time.perf_counter()
    response = client.post("/v1/complete", json={"uri": uri, "prefix": prefix, "suffix": "\n", **extra})
    assert response.status_code == 200, response.text
    return response.json(), time.perf_counter() - started


def code(name: str) -> str:
    return f"def {name}_area(width, height):\n    '''The area of a {name}.'''\n    return "


def index_threads() -> int:
    return sum(t.name == "nanocomplete-index" for t in threading.enumerate())


def wait_for_pass(client, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workspaces = client.get("/health").json()["index"]["workspaces"]
        if workspaces and workspaces[0]["passes"] and workspaces[0]["state"] == "ready":
            return workspaces[0]
        time.sleep(0.2)
    pytest.fail("the indexing pass did not finish")


@pytest.fixture
def server(engine, tmp_path):
    engine.reset()
    with RunningServer(engine, tmp_path, index=INDEX) as running:
        yield running


def test_a_50000_file_workspace_is_indexed_within_its_bounds_while_completions_go_on(server, tmp_path):
    tree = tmp_path / "tree"
    synthetic_tree(tree, TREE_FILES)
    process = psutil.Process()
    with server.client() as client:
        _, baseline_s = complete(client, "file:///elsewhere/a.py", code("square"))
        rss_before = process.memory_info().rss
        _, first_s = complete(
            client, f"file://{tree}/pkg3/sub2/new.py", code("circle"), workspace_root=str(tree)
        )
        during = client.get("/health").json()["index"]
        assert during["workspaces"][0]["state"] == "indexing"
        assert during["limits"]["index_max_files"] == INDEX.index_max_files
        _, during_s = complete(client, "file:///elsewhere/b.py", code("triangle"))
        for _ in range(20):  # asked again and again: still one pass
            complete(
                client, f"file://{tree}/pkg3/sub2/new.py", code("circle") + "w", workspace_root=str(tree)
            )
            assert index_threads() <= 1
        done = wait_for_pass(client)
    rss_growth_mb = (process.memory_info().rss - rss_before) / 2**20
    print(
        f"baseline {baseline_s:.2f} s, first {first_s:.2f} s, during {during_s:.2f} s, {done}, RSS +{rss_growth_mb:.0f} MB"
    )
    assert first_s < 3 * baseline_s + 2 and during_s < 3 * baseline_s + 2, (baseline_s, first_s, during_s)
    assert done["capped_by"] == "files" and done["files"] == INDEX.index_max_files
    assert done["memory_mb"] <= INDEX.index_max_memory_mb
    assert rss_growth_mb < INDEX.index_max_memory_mb, rss_growth_mb


def test_the_file_system_root_as_workspace_is_bounded_and_a_completion_does_not_wait(engine, tmp_path):
    engine.reset()
    bounds = IndexConfig(index_max_seconds=2.0, index_max_files=1_000, index_max_memory_mb=32)
    with RunningServer(engine, tmp_path, index=bounds) as server, server.client() as client:
        _, baseline_s = complete(client, "file:///elsewhere/a.py", code("square"))
        _, first_s = complete(client, "file:///home/user/app.py", code("circle"), workspace_root="/")
        _, other_s = complete(client, "file:///elsewhere/b.py", code("triangle"))
        done = wait_for_pass(client)
        assert index_threads() == 0
        index = server.service.workspaces.all()[0]
    print(f"baseline {baseline_s:.2f} s, first {first_s:.2f} s, other {other_s:.2f} s, {done}")
    assert first_s < 3 * baseline_s + 2 and other_s < 3 * baseline_s + 2, (baseline_s, first_s, other_s)
    assert done["capped_by"] in ("time", "files", "memory") and done["files"] <= 1_000
    assert index.last.seconds - index.last.paused_s < 2.0 + 1.0  # the time bound does not count pauses
    assert done["memory_mb"] <= 32


@pytest.mark.parametrize("root", ["relative/dir", "/definitely/not/here", os.devnull])
def test_a_workspace_root_that_is_not_a_folder_is_served_without_context(server, root):
    with server.client() as client:
        body, _ = complete(client, "file:///x/a.py", code("square"), workspace_root=root)
        assert body["completion"] is not None
        assert client.get("/health").json()["index"]["workspaces"] == []
