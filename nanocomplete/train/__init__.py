"""Training: data building (and, later, distillation, the trainer and export; the only place that may
import torch).

- sources.py        the TRAIN split's pinned packages, kept disjoint from the eval packages
- decontaminate.py  HumanEval lines that no training example may come near
- cursors.py        pure: where an editor asks for a completion, and what the answer is
- examples.py       one package's candidates, and each example's prompt made on the server's path
- data.py           `python -m nanocomplete.train.data build`: packages → prompts as the server builds
                    them → token-id shards + manifest.json
"""
