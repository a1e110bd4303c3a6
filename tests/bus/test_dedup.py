"""SeenIds: a bounded memory of message ids that survives export and restore."""

from __future__ import annotations

import pytest

from bus.dedup import SeenIds
from orchestration.core.exceptions import ValidationError


def test_add_tells_new_from_duplicate() -> None:
    seen = SeenIds(10)
    assert seen.add("a") is True
    assert seen.add("a") is False
    assert "a" in seen
    assert "b" not in seen


def test_it_is_bounded_and_forgets_the_oldest_first() -> None:
    seen = SeenIds(3)
    for message_id in "abcde":
        assert seen.add(message_id)
    assert len(seen) == 3
    assert seen.export() == ["c", "d", "e"]
    assert seen.add("a") is True  # forgotten, so new again
    assert seen.add("e") is False


def test_capacity_zero_remembers_nothing() -> None:
    seen = SeenIds(0)
    assert seen.add("a") is True
    assert seen.add("a") is True
    assert len(seen) == 0


def test_export_and_restore_carry_the_window() -> None:
    seen = SeenIds(4)
    for message_id in ["m1", "m2", "m3", "m4", "m5"]:
        seen.add(message_id)
    restored = SeenIds.restore(seen.export(), capacity=4)
    assert restored.export() == ["m2", "m3", "m4", "m5"]
    assert restored.add("m5") is False
    assert restored.add("m6") is True
    assert restored.export() == ["m3", "m4", "m5", "m6"]  # the same eviction order
    # Restoring into a smaller window keeps the newest ids.
    assert SeenIds.restore(seen.export(), capacity=2).export() == ["m4", "m5"]


@pytest.mark.parametrize("capacity", [-1, 1.5, True, "10"])
def test_a_bad_capacity_names_the_field(capacity: object) -> None:
    with pytest.raises(ValidationError, match="capacity must be a non-negative integer") as info:
        SeenIds(capacity)  # type: ignore[arg-type]
    assert info.value.errors[0]["field"] == "capacity"
