"""Per-candidate-list precomputation for strategies that would otherwise do O(candidates) work.

The router caches its candidate lists: it passes the same list object on every decision until
the rule set or health changes, and replaces single entries in place when an agent reports a
load. :class:`ListCache` keeps one derived value per list, keyed by ``id(list)`` and checked
against a shallow copy of the list taken when the value was derived. The check is a C-level
list comparison that short-cuts on identical entries, so a cached list costs a few
microseconds per decision; entries that differ are handed to the strategy's ``refresh``
function (or the value is rebuilt), so a derived value is never used for contents it was not
derived from. Because the copy is compared by value, a recycled ``id`` cannot return a stale
value: a different list with the same id fails the comparison.

A :class:`CandidateList` (what the router passes) also carries a ``version`` that its owner
raises whenever it replaces an entry: while the slot holds that very list (a reference, so
its id cannot be recycled) at the same version, the value is used without comparing the
entries at all, which is most of the cost of a hit for a list of hundreds of candidates.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from registry.routing.types import Candidate

__all__ = ["CandidateList", "ListCache", "changed_indices"]

T = TypeVar("T")

REFRESH_EVERY = 64
"""Retake the copy every so many hits, so entries that are equal but not identical (a
rebuilt list, a value-equal load report) do not keep the comparison on its slow path."""


def changed_indices(old: list[Candidate], new: list[Candidate]) -> list[int]:
    """Positions where ``new`` holds another object than ``old`` (both of the same length)."""
    same = list(map(operator.is_, old, new))
    result: list[int] = []
    index = -1
    try:
        while True:
            index = same.index(False, index + 1)
            result.append(index)
    except ValueError:
        return result


class CandidateList(list[Candidate]):
    """A candidate list whose owner raises ``version`` every time it replaces an entry."""

    __slots__ = ("version",)

    def __init__(self, candidates: Iterable[Candidate] = ()) -> None:
        super().__init__(candidates)
        self.version = 0


class _Slot(Generic[T]):
    __slots__ = ("hits", "snapshot", "source", "value", "version")

    def __init__(
        self, snapshot: list[Candidate], value: T, source: object, version: int | None
    ) -> None:
        self.snapshot = snapshot
        self.value = value
        self.hits = 0
        self.source = source  # the list itself: while held, its id is not reused
        self.version = version


class ListCache(Generic[T]):
    """An LRU of values derived from candidate lists, valid while the list's entries are.

    Args:
        build: derives the value from a list (never empty).
        refresh: updates a value in place after the entries at the given positions were
            replaced (same length); returns False when the value must be rebuilt instead.
            None rebuilds on every change.
        max_entries: how many lists to remember.
    """

    def __init__(
        self,
        build: Callable[[list[Candidate]], T],
        refresh: Callable[[T, list[Candidate], list[Candidate], list[int]], bool] | None = None,
        *,
        max_entries: int = 256,
    ) -> None:
        self._build = build
        self._refresh = refresh
        self._max_entries = max_entries
        self._slots: OrderedDict[int, _Slot[T]] = OrderedDict()

    def get(self, candidates: Sequence[Candidate]) -> T:
        """The value derived from ``candidates``' current entries."""
        key = id(candidates)
        slot = self._slots.get(key)
        version = candidates.version if isinstance(candidates, CandidateList) else None
        if (
            slot is not None
            and version is not None
            and slot.source is candidates
            and slot.version == version
        ):
            self._slots.move_to_end(key)
            return slot.value
        current = candidates if isinstance(candidates, list) else list(candidates)
        if slot is not None:
            snapshot = slot.snapshot
            if snapshot == current:
                slot.source, slot.version = candidates, version
                slot.hits += 1
                if slot.hits >= REFRESH_EVERY:
                    slot.hits = 0
                    slot.snapshot = list(current)
                self._slots.move_to_end(key)
                return slot.value
            if (
                self._refresh is not None
                and len(snapshot) == len(current)
                and self._refresh(slot.value, snapshot, current, changed_indices(snapshot, current))
            ):
                slot.snapshot = list(current)
                slot.hits = 0
                slot.source, slot.version = candidates, version
                self._slots.move_to_end(key)
                return slot.value
        value = self._build(current)
        self._slots[key] = _Slot(list(current), value, candidates, version)
        self._slots.move_to_end(key)
        if len(self._slots) > self._max_entries:
            self._slots.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every list."""
        self._slots.clear()
