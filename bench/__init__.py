"""Benchmarks: scripts that print target, achieved, same-run baseline and ratio per metric."""
