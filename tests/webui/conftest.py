"""Fixtures of the Web UI tests: a dev server with its UI on, and the CSRD agents' workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.webui.server import TemporalWithUI, temporal_with_ui
from tests.workers.test_saga_cli import csrd_workspace  # noqa: F401 (the fixture, reused)


@pytest_asyncio.fixture(name="temporal_with_ui", scope="module", loop_scope="session")
async def temporal_with_ui_fixture() -> AsyncIterator[TemporalWithUI]:
    async with temporal_with_ui() as server:
        yield server
