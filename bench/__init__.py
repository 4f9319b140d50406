"""Benchmarks of the briefing project: run each as `python -m bench.NAME` (see README.md)."""
