"""Partition ids as short text: ``"0-4, 9"`` for 0, 1, 2, 3, 4 and 9 (Web UI summaries, the
partitions a redrive runs)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["format_ranges", "parse_ranges"]


def format_ranges(partitions: Iterable[int]) -> str:
    """``"0-4, 9"`` for (0, 1, 2, 3, 4, 9); ``""`` for none."""
    ordered = sorted(set(partitions))
    if not ordered:
        return ""
    parts: list[str] = []
    start = previous = ordered[0]
    for p in [*ordered[1:], None]:
        if p is not None and p == previous + 1:
            previous = p
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if p is not None:
            start = previous = p
    return ", ".join(parts)


def parse_ranges(text: str) -> list[int]:
    """The ids ``format_ranges`` wrote, ascending.

    Raises:
        ValueError: not comma-separated ``N`` or ``N-M`` (N <= M, non-negative).
    """
    found: set[int] = set()
    for piece in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = piece.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"{piece!r} is not a partition id or range (N or N-M)")
        low, high = int(first), int(last or first)
        if high < low:
            raise ValueError(f"{piece!r}: the range ends before it starts")
        found.update(range(low, high + 1))
    return sorted(found)
