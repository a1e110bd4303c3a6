"""Temporal fixtures: the time-skipping test server and a dev server, both from wheels.

Set ``ORCH_TEST_TEMPORAL_ADDRESS`` to run ``temporal_client`` against an existing server
instead of starting a dev server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from orchestration.core.connections import TemporalConfig
from orchestration.core.settings import Settings
from orchestration.core.temporal_client import (
    DATA_CONVERTER,
    PRIORITY_SERVER_ARGS,
    connect,
    ensure_search_attributes,
)
from orchestration.stack.binaries import temporal_cli_path, temporal_test_server_path

__all__ = ["temporal_client", "temporal_dev_env", "temporal_time_skipping_env"]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server: timers fire as soon as nothing else can run."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server_path(),
        data_converter=DATA_CONVERTER,
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (in memory) on a free port, for the whole session.

    With ``ORCH_TEST_TEMPORAL_ADDRESS`` set, the environment wraps that server instead.
    """
    address = os.environ.get("ORCH_TEST_TEMPORAL_ADDRESS")
    if address:
        client = await connect(Settings(temporal=TemporalConfig(address=address)))
        env = WorkflowEnvironment.from_client(client)
    else:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli_path(),
            data_converter=DATA_CONVERTER,
            dev_server_log_level="error",
            dev_server_extra_args=list(PRIORITY_SERVER_ARGS),
        )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_dev_env: WorkflowEnvironment) -> Client:
    """A client of the session's real Temporal server (pydantic data converter)."""
    return temporal_dev_env.client
