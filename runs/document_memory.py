"""Memory that large documents leave behind in the completion service (no model: the stand-in engine), as
`tracemalloc` counts it: what a server keeps per document (its typing-through state, the trees kept for
incremental reparsing), after N documents of ~1.9 MB each.

    .venv/bin/python runs/document_memory.py [--documents 30]
"""

import argparse
import gc
import resource
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes import FakeEngine

from nanocomplete import api
from nanocomplete.completion import Settings
from nanocomplete.config import SERVING_POSTPROCESS, SERVING_PROMPT
from nanocomplete.service import CompletionService

LINE = "value_%d = compute(alpha, beta, gamma) + offset  # a comment here\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=30)
    args = parser.parse_args()
    service = CompletionService(
        FakeEngine(), "fake", Settings(SERVING_PROMPT, postprocess=SERVING_POSTPROCESS)
    )
    tracemalloc.start()
    try:
        for number in range(args.documents):
            text = "".join(LINE % (i + number) for i in range(28_000))  # ~1.9 MB
            request = api.CompleteRequest(
                uri=f"file:///w/f{number}.py", text=text, cursor=api.Position(line=14_000, character=0)
            )
            service.finish(service.submit(request))
            del text, request
            gc.collect()
            if (number + 1) % 5 == 0:
                traced, peak = tracemalloc.get_traced_memory()
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
                print(
                    f"{number + 1} documents: traced {traced >> 20} MB (peak {peak >> 20} MB), "
                    f"max RSS {rss} MB"
                )
        for stat in tracemalloc.take_snapshot().statistics("lineno")[:5]:
            print(stat)
    finally:
        service.close()


if __name__ == "__main__":
    main()
