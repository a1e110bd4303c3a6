"""Runnable examples. Run them from the repository root, e.g. ``python examples/demo.py``."""
