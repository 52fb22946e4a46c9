"""nanocomplete: local inline code completion with a small Qwen2.5-Coder model."""

__version__ = "0.1.0"
