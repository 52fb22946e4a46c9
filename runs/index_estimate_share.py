"""How much the index's syntax-record term (`index.ESTIMATED_BYTES_PER_SYNTAX_RECORD`) adds to the memory
estimate of real code: seeded random `.py` files of /usr/lib/python3*, the estimate with and without it.
Usage: .venv/bin/python runs/index_estimate_share.py [FILES] (default 500; docs/index.md)."""

from __future__ import annotations

import glob
import random
import sys
from pathlib import Path

from nanocomplete import index
from nanocomplete.workspace import parse_file, syntax_records


def main(limit: int) -> None:
    files = sorted(glob.glob("/usr/lib/python3*/**/*.py", recursive=True))
    random.Random(0).shuffle(files)
    without = with_term = counted = 0
    for path in files[:limit]:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parsed = parse_file(path.rsplit("/", 1)[-1], text) if len(text) <= 200_000 else None
        if parsed is None:
            continue
        total = index.estimated_bytes(parsed)
        term = index.ESTIMATED_BYTES_PER_SYNTAX_RECORD * syntax_records(parsed.source.syntax)
        without, with_term, counted = without + total - term, with_term + total, counted + 1
    ratio = with_term / without
    print(f"{counted} files: the estimate with the syntax-record term is {ratio:.3f}x without it")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
