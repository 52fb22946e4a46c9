"""GGUF LoRA adapters shipped with the code (each with a model card); the registry names them."""
