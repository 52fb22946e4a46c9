"""Drafts for speculative decoding: guesses of the next few tokens that the target model verifies in one
batch (engine.Engine.generate with `GenerationConfig.draft`). Pure: token ids in, token ids out.

Prompt lookup (`prompt_lookup`) is llama.cpp's n-gram drafter (`common/ngram-cache`, and
`llama_cpp/llama_speculative.py`'s `LlamaPromptLookupDecoding`): find the most recent earlier occurrence of
the last n tokens (n = `ngram_max` down to `ngram_min`) and propose the tokens that followed it. It costs no
model call; completions that copy the prompt (a repeated name, a mirrored line) draft well.

The other drafter, a small model decoding greedily with its own KV cache, lives in the engine
(`Engine.draft_greedy`): it needs llama.cpp.
"""

from __future__ import annotations

from collections.abc import Sequence

NGRAM_MAX = 3
NGRAM_MIN = 1


def prompt_lookup(
    tokens: Sequence[int], max_tokens: int, ngram_max: int = NGRAM_MAX, ngram_min: int = NGRAM_MIN
) -> list[int]:
    """Up to `max_tokens` ids that followed the most recent earlier occurrence of the last n ids of
    `tokens` (the prompt plus what was generated), trying the longest n first; [] when none recurs.

    Cost: one backward scan of `tokens` per n (a 4K-token prompt: ~1 ms in Python)."""
    if max_tokens <= 0:
        return []
    size = len(tokens)
    for n in range(min(ngram_max, size - 1), ngram_min - 1, -1):
        tail = list(tokens[size - n :])
        first = tail[0]
        # the most recent match that ends before the tail itself
        for start in range(size - n - 1, -1, -1):
            if tokens[start] == first and list(tokens[start : start + n]) == tail:
                follow = list(tokens[start + n : start + n + max_tokens])
                if follow:
                    return follow
    return []


def accepted_length(draft: Sequence[int], target_choices: Sequence[int]) -> int:
    """How many leading draft tokens the target agrees with: `target_choices[i]` is the target's greedy
    token after the verified prefix and draft[:i] (so it has one more entry than `draft`)."""
    accepted = 0
    while accepted < len(draft) and target_choices[accepted] == draft[accepted]:
        accepted += 1
    return accepted
