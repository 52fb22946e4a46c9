"""Evaluation harness: tasks, execution sandbox, metrics, runner and reports.

Built on nanocomplete.corpus (the pinned packages, file selection, the benchmark data), never on train/.
"""
