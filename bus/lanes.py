"""Which priority lane a consumer serves next: urgent first, without starving the others.

Weighted round robin with credits: each round grants CRITICAL 8, HIGH 4, NORMAL 2 and LOW 1
deliveries. The most urgent lane with messages and credit goes next; when no waiting lane has
credit, a new round starts. With every lane backlogged, 8 of every 15 deliveries are
CRITICAL and 1 is LOW, so a LOW message waits at most 14 deliveries per lane round; when
only some lanes have messages, they share the throughput in the same proportions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bus.message import Priority

__all__ = ["DEFAULT_WEIGHTS", "LaneScheduler"]

DEFAULT_WEIGHTS: Mapping[Priority, int] = {
    Priority.CRITICAL: 8,
    Priority.HIGH: 4,
    Priority.NORMAL: 2,
    Priority.LOW: 1,
}


class LaneScheduler:
    """Pick the next lane to serve given which lanes have messages waiting.

    Args:
        weights: deliveries per round for each priority, each at least 1.
    """

    def __init__(self, weights: Mapping[Priority, int] = DEFAULT_WEIGHTS) -> None:
        if set(weights) != set(Priority) or any(w < 1 for w in weights.values()):
            raise ValueError("weights must give every priority at least 1")
        self._weights = [weights[p] for p in Priority]
        self._credit = list(self._weights)

    def next(self, waiting: Sequence[int]) -> int | None:
        """The lane (``Priority`` value) to serve, from how many messages wait in each lane."""
        credit = self._credit
        for _ in range(2):
            for lane, count in enumerate(waiting):
                if count and credit[lane]:
                    credit[lane] -= 1
                    return lane
            if not any(waiting):
                return None
            credit[:] = self._weights
        return None  # unreachable: after a refill every waiting lane has credit
