"""A bounded memory of message ids, to drop duplicates.

Used by bus consumers (per subscription) and by workflows that receive signals from the bridge:
:meth:`SeenIds.export` and :meth:`SeenIds.restore` carry it across continue-as-new. Pure Python
and deterministic, so it is safe inside workflow code.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["SeenIds"]


class SeenIds:
    """The last ``capacity`` distinct ids seen, oldest forgotten first.

    Args:
        capacity: how many ids to remember; 0 remembers none (nothing is a duplicate).
        ids: ids already seen, oldest first (e.g. from :meth:`export`).
    """

    __slots__ = ("_capacity", "_ids")

    def __init__(self, capacity: int = 10_000, ids: Iterable[str] = ()) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            from orchestration.core.exceptions import ValidationError

            raise ValidationError(
                f"capacity must be a non-negative integer (got {capacity!r})",
                errors=[{"field": "capacity", "problem": "must be a non-negative integer"}],
            )
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        for message_id in ids:
            self.add(message_id)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, message_id: str) -> bool:
        """Remember ``message_id``; True when it is new, False when it is a duplicate."""
        if message_id in self._ids:
            return False
        if self._capacity:
            self._ids[message_id] = None
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)
        return True

    def export(self) -> list[str]:
        """The remembered ids, oldest first: pass them to ``SeenIds(capacity, ids)`` later."""
        return list(self._ids)

    @classmethod
    def restore(cls, ids: Iterable[str], capacity: int = 10_000) -> SeenIds:
        return cls(capacity, ids)
