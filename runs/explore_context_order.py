"""Exploratory: the context engine with definitions nearest the cursor (similar code first, imported
definitions last) instead of the cache-friendly order. Same flags as `nanocomplete eval`.

    .venv/bin/python runs/explore_context_order.py crossfile-python-retrieved --model nanocomplete-0.5b ...

Why: on the 200-pair study, Python completions used shown definitions only when no similar code came after
them (docs/results.md, "Context study on 200 pairs").
"""

import sys

from nanocomplete import cli, context

context.PROMPT_ORDER = ("similar", "recent", "import")
sys.exit(cli.main(["eval", *sys.argv[1:]]))
