"""Training nanocomplete-0.5b (docs/training.md; `runs/train.sh`). Only trainer.py imports torch.

- cursors.py        pure: where an editor asks for a completion, and what the answer is
- examples.py       one package's candidates, and each example's prompt made on the server's path
- data.py           `python -m nanocomplete.train.data build`: packages → prompts as the server builds
                    them → token-id shards + manifest.json
- records.py        reading built shards and teacher files (standard library only: the GPU machine runs it)
- teacher.py        the larger model's top-k log-probs at every answer position, through the engine
- trainer.py        LoRA (or full) fine-tuning, loss on the answer only, resumable, accelerate
- export.py         PEFT adapter → GGUF adapter (`--merge-into`: folded into the base by nanocomplete.merge)
- gpu.py            a run on a lent GPU machine: base + data in parts that fit one call each, checksummed;
                    reassembly, training within a time budget, the run back in pieces (runs/gpu_train.sh)

Built on nanocomplete.corpus (the pinned packages, file selection, decontamination), never on evals/.
"""
