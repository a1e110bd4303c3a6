"""Fixtures of the Web UI tests: a dev server with its UI on (the CSRD workspace is shared)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.webui.server import TemporalWithUI, temporal_with_ui


@pytest_asyncio.fixture(name="temporal_with_ui", scope="module", loop_scope="session")
async def temporal_with_ui_fixture() -> AsyncIterator[TemporalWithUI]:
    async with temporal_with_ui() as server:
        yield server
