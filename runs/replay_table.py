"""#18 item 4: one table of served arms (models, or settings) on the same replay sessions, each paired with
the peer arm of the same sessions. Reads finished arm folders (`bench replay` writes them).
Usage: .venv/bin/python runs/replay_table.py [--common] PEER_ARM_DIR LABEL=ARM_DIR [LABEL=ARM_DIR ...]
  --common: every arm, the peer's included, on the visits all of them have (an arm run with --visits N)
"""

from __future__ import annotations

import sys
from pathlib import Path

from nanocomplete import replay

ROWS = (  # (label, statistic key, whole numbers)
    ("requests", "requests", True),
    ("suggestions shown", "shown", True),
    ("share of shown accepted", "accepted_share", False),
    ("accepted chars per 100 typed", "accepted_chars_per_100_typed", True),
    ("latency p50, ms", "latency_ms_p50", True),
    ("latency p95, ms", "latency_ms_p95", True),
    ("model-answered latency p50, ms", "model_latency_ms_p50", True),
    ("prompt tokens evaluated p95", "evaluated_tokens_p95", True),
)
KINDS = (("new line", "new_line"), ("mid-line", "mid_line"), ("first in a file", "first_in_file"))


def main(argv: list[str]) -> int:
    common = argv[:1] == ["--common"]
    argv = argv[1:] if common else argv
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        print(__doc__)
        return 2
    peer_units = replay.arm_units(Path(argv[0]))
    arms = {label: replay.arm_units(Path(path)) for label, path in (a.split("=", 1) for a in argv[1:])}
    if common:
        keys = set.intersection(*({u.key for u in units} for units in [peer_units, *arms.values()]))
        peer_units = [u for u in peer_units if u.key in keys]
        arms = {label: [u for u in units if u.key in keys] for label, units in arms.items()}
    summaries = {label: replay.summarise(units) for label, units in arms.items()}
    summaries["peer"] = replay.summarise(peer_units)
    names = list(summaries)
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, key, whole in ROWS:
        lines.append(
            f"| {label} | " + " | ".join(replay.cell(summaries[n][key], whole) for n in names) + " |"
        )
    for label, kind in KINDS:
        for name, key, whole in (("share of shown accepted", "accepted_share", False),
                                 ("latency p50, ms", "latency_ms_p50", True)):  # fmt: skip
            cells = [replay.cell(summaries[n]["by_kind"][kind][key], whole) for n in names]
            lines.append(f"| {label}: {name} | " + " | ".join(cells) + " |")
    peer_keys = {u.key for u in peer_units}
    paired = (
        ("latency_ms_p50", "ours ÷ peer, latency p50"),
        ("accepted_chars_per_100_typed", "ours ÷ peer, accepted chars"),
    )
    for ratio_key, ratio_label in paired:
        cells = []
        for units in arms.values():
            common = [u for u in units if u.key in peer_keys]
            keys = {u.key for u in common}
            value = replay.ratios(common, [u for u in peer_units if u.key in keys])[ratio_key]
            cells.append(f"{value['value']:.2f} [{value['low']:.2f}, {value['high']:.2f}] ({value['units']})")
        lines.append(f"| {ratio_label} (paired visits) | " + " | ".join(cells) + " | – |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
