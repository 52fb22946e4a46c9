"""Settings, as frozen dataclasses. Every field has one name everywhere: `max_tokens` here is
`--max-tokens` on the CLI and `max_tokens` in the API. Units are in the names.

| setting | default | unit | cost / effect |
|---|---|---|---|
| context_window_tokens | 4096 | tokens | KV cache size (12 KiB per token for the 0.5B) |
| batch_tokens | 512 | tokens | prompt tokens per llama.cpp decode; cancellation is checked between batches |
| threads | all cores, at most 8 | threads | CPU threads for llama.cpp |
| gpu_layers | -1 (all) | layers | offloaded to Metal on macOS; ignored by CPU builds |
| max_prefix_tokens | 1024 | tokens | text before the cursor; ~9 ms per token to evaluate on a 2-core CPU |
| max_suffix_tokens | 256 | tokens | text after the cursor |
| max_context_tokens | 1024 | tokens | other files (repo-level format); 0 disables |
| prefix_anchor_lines | 16 | lines | the prefix starts on a multiple of this, so it does not slide while typing |
| current_line_after_middle | False | - | put the typed part of the current line after <|fim_middle|> (cache-stable) |
| max_tokens | 32 | tokens | new tokens per completion (~50 ms each on a 2-core CPU) |
| temperature | 0.0 | - | 0 is greedy |
| seed | 0 | - | sampling seed when temperature > 0 |
| max_lines | 6 | lines | lines in a multi-line completion |
| min_chars | 2 | characters | shorter completions are dropped |
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class EngineConfig:
    context_window_tokens: int = 4096
    batch_tokens: int = 512
    threads: int = 0  # 0: default_threads()
    gpu_layers: int = -1

    def resolved_threads(self) -> int:
        return self.threads or default_threads()


@dataclass(frozen=True)
class PromptConfig:
    max_prefix_tokens: int = 1024
    max_suffix_tokens: int = 256
    max_context_tokens: int = 1024
    prefix_anchor_lines: int = 16
    current_line_after_middle: bool = False


@dataclass(frozen=True)
class GenerationConfig:
    max_tokens: int = 32
    temperature: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class PostprocessConfig:
    max_lines: int = 6
    min_chars: int = 2
