"""Registry test fixtures: a controlled clock."""

from __future__ import annotations

import pytest

from tests.registry.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
