"""The source corpus that evaluation and training share, kept in two disjoint splits (pure data and its
loading; neither evals/ nor train/ is imported here).

- pins.py           the EVAL and TRAIN packages, pinned by archive SHA-256; the split rule
- sources.py        fetching and verifying archives, licenses, reading a package's library files
- files.py          pure: which files of a package are used, and why the others are not
- benchmarks.py     the HumanEval-family data files (evaluation only) and their loaders
- decontaminate.py  HumanEval lines that no training example may come near
"""
