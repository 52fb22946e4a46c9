"""Evaluation harness: tasks, execution sandbox, metrics, runner and reports."""
