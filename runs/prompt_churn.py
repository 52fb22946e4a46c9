"""Prompt churn without a model: the replay's served arm (the real service, HTTP server and typist) on an
engine that tokenizes with the real vocabulary but generates nothing, counting what a perfect per-file KV
cache would evaluate for each request (the tokens after the longest prefix it shares with the cached prompt,
the scheduler's snapshots included). Nothing is accepted, so the typist types every character; the counts
are for comparing prompt-building code, not for latency. Unlike `runs/prompt_reuse.py` (the prompt builder
alone, for the closing-lines A/B), it runs the whole service: the context engine, the document's import
header, the sticky context, the scheduler's snapshots.

Usage: .venv/bin/python runs/prompt_churn.py [--language python] [--visits N] [--show-changes]
       [--kv-shift-min-tokens 32 [--no-kv-shift-after-insertions]]
Prints: requests, evaluated tokens p50 / p95, requests over 200 tokens by kind, and with --show-changes
where each such prompt first differs from the one before it.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # fakes.FakeEngine

from fakes import FakeEngine

from nanocomplete import cli, models, replay
from nanocomplete.config import ContextConfig, ServerConfig
from nanocomplete.engine import Tokenizer, common_prefix
from nanocomplete.server import free_port
from nanocomplete.service import CompletionService


class VocabularyEngine(FakeEngine):
    """The fake engine with the model's tokenizer; it records each completion's prompt and cached prefix."""

    def __init__(self, model: str):
        super().__init__("")
        self.tokenizer = Tokenizer(models.resolve(model))
        self.tokenize = self.tokenizer.tokenize
        self.prompts: list[tuple[tuple[int, ...], int]] = []

    def detokenize(self, ids):
        return self.tokenizer.detokenize(ids, special=True)

    def generate(self, prompt, *args, **kwargs):
        self.prompts.append((tuple(prompt), self.reusable_tokens(prompt)))
        return super().generate(prompt, *args, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--language", default="python")
    parser.add_argument("--visits", type=int, default=None)
    parser.add_argument("--show-changes", action="store_true")
    parser.add_argument("--kv-shift-min-tokens", type=int, default=0, help="as the engine setting")
    parser.add_argument(
        "--kv-shift-after-insertions", action=argparse.BooleanOptionalAction, default=True,
        help="as the engine setting",
    )  # fmt: skip
    args = parser.parse_args()
    served = cli.make_parser().parse_args(["bench", "replay", "--language", args.language])
    settings = cli._serving_settings(served)
    engine = VocabularyEngine(served.model)
    engine.kv_shift_min_tokens = args.kv_shift_min_tokens
    engine.kv_shift_after_insertions = args.kv_shift_after_insertions
    rows = []
    for repo in cli.replay_repos(None, [args.language]):
        repo = dataclasses.replace(repo, visits=args.visits)

        def factory(reuse_kv: bool):
            engine.reset()
            server = ServerConfig(port=free_port())
            service = CompletionService(
                engine, served.model, settings, ContextConfig(), server, reuse_kv=reuse_kv
            )
            return service, server

        run, _ = replay.replay_served(factory, repo, served.session_seed, lambda *a: None)
        rows += [(r.kind, r.prompt_tokens_evaluated) for r in run.session.records if r.model_answered]
    evaluated = sorted(tokens for _, tokens in rows)
    big = [tokens for tokens in evaluated if tokens > 200]
    p50, p95 = statistics.median(evaluated), evaluated[int(0.95 * (len(evaluated) - 1))]
    print(
        f"{args.language}: {len(rows)} model requests; evaluated tokens p50 {p50:.0f}, p95 {p95}; "
        f"over 200 tokens: {len(big)}"
    )
    for kind in sorted({kind for kind, _ in rows}):
        of_kind = [tokens for k, tokens in rows if k == kind]
        print(f"  {kind:15s} {len(of_kind):4d} requests, {sum(t > 200 for t in of_kind):3d} over 200 tokens")
    if args.show_changes:  # each completion's prompt against the one before it (of any document)
        previous = None
        for prompt, held in engine.prompts:
            if len(prompt) - held > 200 and previous is not None:
                same = common_prefix(previous, prompt)
                print(f"{len(prompt) - held} tokens from position {same}:")
                print("   was:", repr(engine.detokenize(previous[same : same + 30])))
                print("   now:", repr(engine.detokenize(prompt[same : same + 30])))
            previous = prompt
    return 0


if __name__ == "__main__":
    sys.exit(main())
