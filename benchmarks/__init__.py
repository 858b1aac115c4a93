"""Benchmarks: run from the repo root as `python -m benchmarks.NAME` (never as scripts: inspect.py would shadow the stdlib)."""
