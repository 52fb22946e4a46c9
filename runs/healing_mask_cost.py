"""What token healing costs the engine per request: the mask of tokens that agree with the healed text, by
the sorted-vocabulary range (`Engine._agreeing_tokens`) against a scan of every token's text, and the
one-time build of the sorted vocabulary (`Engine.prepare_vocabulary`).

    .venv/bin/python runs/healing_mask_cost.py [--model nanocomplete-0.5b]
"""

import argparse
import time

import numpy as np

from nanocomplete import models
from nanocomplete.config import EngineConfig
from nanocomplete.engine import Engine

HEALED = (b".", b"(", b".du", b" return", b"rrent", b"x", b" self")  # texts a healed prompt leaves out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="nanocomplete-0.5b")
    args = parser.parse_args()
    files = models.resolve_files(args.model)
    engine = Engine(files.model, EngineConfig(threads=1), files.adapter)
    started = time.perf_counter()
    pieces = engine._pieces
    texts_s = time.perf_counter() - started
    started = time.perf_counter()
    engine.prepare_vocabulary()
    sorted_s = time.perf_counter() - started
    started = time.perf_counter()
    for rest in HEALED:
        np.array([p.startswith(rest) or (p != b"" and rest.startswith(p)) for p in pieces])
    scan_ms = (time.perf_counter() - started) * 1000 / len(HEALED)
    started = time.perf_counter()
    for rest in HEALED:
        engine._agreeing_tokens(rest)
    range_ms = (time.perf_counter() - started) * 1000 / len(HEALED)
    print(f"token texts: {texts_s:.2f} s once; sorted vocabulary: {sorted_s:.2f} s once")
    print(
        f"mask per healed text: scan {scan_ms:.1f} ms, sorted range {range_ms:.3f} ms ({len(pieces)} tokens)"
    )


if __name__ == "__main__":
    main()
