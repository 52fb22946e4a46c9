"""BM25 of this tree against BM25 of an earlier commit, on the same index and queries: identical ranking?
how fast? (Selection queries: the last 10 non-blank lines before a random cursor, as context.py builds them.)

    .venv/bin/python runs/compare_bm25.py REV ROOT [--queries 300]
    e.g. .venv/bin/python runs/compare_bm25.py 5d18248 /path/to/sqlalchemy-2.0.44
"""

import argparse
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nanocomplete import context
from nanocomplete.index import WorkspaceIndex
from nanocomplete.workspace import code_tokens


def module_at(rev: str, folder: Path):
    """nanocomplete/workspace.py as it was at `rev`, imported under another name."""
    source = subprocess.run(
        ["git", "show", f"{rev}:nanocomplete/workspace.py"], capture_output=True, text=True, check=True
    ).stdout
    path = folder / "workspace_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("workspace_at_rev", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["workspace_at_rev"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rev")
    parser.add_argument("root", type=Path)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    index = WorkspaceIndex(args.root)
    index.refresh()
    workspace = index.workspace
    with tempfile.TemporaryDirectory() as folder:
        old = module_at(args.rev, Path(folder)).Bm25()
        for path, source in workspace.files.items():
            old.add_file(path, source.lines)
        rng, paths = random.Random(0), sorted(workspace.files)
        same, old_ms, new_ms = 0, [], []
        for _ in range(args.queries):
            path = rng.choice(paths)
            text = workspace.files[path].text
            query = code_tokens(context.query_lines(text[: rng.randrange(len(text) + 1)]))
            started = time.perf_counter()
            before = old.search(query, 24, exclude_path=path)
            old_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            after = workspace.bm25.search(query, 24, exclude_path=path)
            new_ms.append((time.perf_counter() - started) * 1000)
            same += [(s, w.path, w.start_line) for s, w in before] == [
                (s, w.path, w.start_line) for s, w in after
            ]

    def p95(values):
        return sorted(values)[int(0.95 * len(values))]

    print(f"identical rankings and scores: {same} of {args.queries}")
    print(f"{args.rev}: p50 {statistics.median(old_ms):.2f} ms, p95 {p95(old_ms):.2f} ms")
    print(f"this tree: p50 {statistics.median(new_ms):.2f} ms, p95 {p95(new_ms):.2f} ms")


if __name__ == "__main__":
    main()
