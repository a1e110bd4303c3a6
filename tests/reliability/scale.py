"""How hard the fault suite pushes: ``CHAOS_SCALE`` multiplies its trials and faults.

``make test`` runs it at 1 (a few minutes); ``make chaos`` runs the soak at 10 (or at
``CHAOS_SCALE`` when set).
"""

from __future__ import annotations

import os

__all__ = ["SCALE", "scaled"]


def _scale() -> int:
    raw = os.environ.get("CHAOS_SCALE", "1").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise SystemExit(f"CHAOS_SCALE must be a whole number from 1 to 1000, not {raw!r}")
    return int(raw)


SCALE = _scale()


def scaled(count: int) -> int:
    """``count`` times the scale."""
    return count * SCALE
