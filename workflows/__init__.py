"""Deterministic workflow code and the models workflows take and return (no I/O here)."""
