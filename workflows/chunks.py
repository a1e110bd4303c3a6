"""Splitting ``total`` items into contiguous chunks: swarm partitions and map-reduce stages."""

from __future__ import annotations

__all__ = ["chunk_bounds"]


def chunk_bounds(total: int, parts: int, index: int) -> tuple[int, int]:
    """``(start, stop)`` of chunk ``index`` of ``parts`` over ``total`` items: sizes differ by
    at most one, the first ``total % parts`` chunks being the larger."""
    size, extra = divmod(total, parts)
    start = index * size + min(index, extra)
    return start, start + size + (1 if index < extra else 0)
