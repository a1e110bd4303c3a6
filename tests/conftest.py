"""Shared helpers for this repository's tests (the fixtures come from our pytest plugin)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def unique() -> str:
    """A fresh suffix for task queues and workflow ids, so tests never share state."""
    return uuid.uuid4().hex[:12]
