"""``serve``: a real uvicorn server on a free port, stopped by cancellation or by SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from orchestration.core.connections import DatabaseConfig, RegistryConfig
from orchestration.core.exceptions import (
    ConfigurationError,
    DatabaseUnavailableError,
    PortInUseError,
)
from orchestration.core.settings import Settings
from orchestration.testing.ports import free_port
from registry.models import AgentDescriptor
from registry.remote_registry import RemoteAgentRegistry
from registry.service.serve import serve
from tests.registry.service.conftest import TOKEN

DEADLINE_S = 20.0


def settings_for(tmp_path: Path, port: int, **registry: object) -> Settings:
    return Settings(
        state_dir=tmp_path,
        database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path}/registry.db"),
        registry=RegistryConfig(host="127.0.0.1", port=port, **registry),
    )


async def wait_until_healthy(url: str, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    async with httpx.AsyncClient(base_url=url, timeout=1.0) as probe:
        while time.monotonic() < deadline:
            if task.done():
                task.result()  # raises what made serve() stop
                pytest.fail("serve() returned before the service was healthy")
            with contextlib.suppress(httpx.TransportError):
                if (await probe.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    pytest.fail(f"the registry at {url} was not healthy within {DEADLINE_S} s")


@contextlib.asynccontextmanager
async def serving(settings: Settings, *, handle_signals: bool) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(serve(settings, handle_signals=handle_signals))
    try:
        await wait_until_healthy(f"http://127.0.0.1:{settings.registry.port}", task)
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, DEADLINE_S)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_a_real_server_serves_the_client_and_releases_its_port_when_cancelled(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = settings_for(tmp_path, port, token=SecretStr(TOKEN))
    agent = AgentDescriptor(agent_id="agent-served", agent_type="Calculator")

    async with serving(settings, handle_signals=False) as task:
        url = f"http://127.0.0.1:{port}"
        async with RemoteAgentRegistry(url, token=TOKEN, timeout_s=5) as remote:
            registered = await remote.register(agent)
            await remote.heartbeat(agent.agent_id, {"cpu_usage": 0.2})
            read = await remote.get_agent(agent.agent_id)
        async with httpx.AsyncClient(base_url=url) as anonymous:
            refused = await anonymous.get("/agents")
            docs = await anonymous.get(
                "/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert registered.descriptor == agent
    assert read.heartbeat_count == 1
    assert refused.status_code == 401
    assert docs.json()["info"]["title"] == "GreenLang Orchestration registry"
    assert port_is_free(port)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed from the main thread",
)
async def test_sigterm_stops_the_server_gracefully_and_writes_pending_heartbeats(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = settings_for(tmp_path, port)
    agent = AgentDescriptor(agent_id="agent-signalled", agent_type="Calculator")
    url = f"http://127.0.0.1:{port}"

    before = signal.getsignal(signal.SIGTERM)

    async with serving(settings, handle_signals=True) as task:
        async with RemoteAgentRegistry(url) as remote:
            await remote.register(agent)
            await remote.heartbeat(agent.agent_id, {"cpu_usage": 0.3})
        # Only ever raise the signal at a handler of ours: the default would end pytest.
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(task, DEADLINE_S)

    async with serving(settings, handle_signals=False), RemoteAgentRegistry(url) as remote:
        after_restart = await remote.get_agent(agent.agent_id)

    assert task.exception() is None
    assert signal.getsignal(signal.SIGTERM) == before
    assert after_restart.heartbeat_count == 1


async def test_a_non_loopback_host_without_a_token_is_refused_before_binding(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, free_port()).model_copy(
        update={"registry": RegistryConfig(host="0.0.0.0", port=free_port())}
    )

    with pytest.raises(ConfigurationError) as raised:
        await serve(settings)

    message = str(raised.value)
    assert "\n" not in message
    assert "ORCH_REGISTRY_TOKEN" in message
    assert "ORCH_REGISTRY_HOST" in message


async def test_a_taken_port_is_a_port_in_use_error_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = settings_for(tmp_path, taken.getsockname()[1])

        with pytest.raises(PortInUseError) as raised:
            await serve(settings)

    assert raised.value.setting == "ORCH_REGISTRY_PORT"


async def test_an_unreachable_database_at_startup_is_raised_not_logged_and_exited(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = settings_for(tmp_path, port).model_copy(
        update={"database": DatabaseConfig(url="postgresql+asyncpg://nobody@127.0.0.1:1/none")}
    )

    with pytest.raises(DatabaseUnavailableError):
        await serve(settings)

    assert port_is_free(port)
