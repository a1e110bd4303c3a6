"""The processes of a traced run: the orchestration worker and the CSRD agents, each exporting
to the test's OTLP receiver as its own service."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.client import Client

from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_http
from orchestration.testing.otlp import OtlpReceiver
from orchestration.testing.ports import free_port
from tests.reliability.service import child_env
from tests.workers.test_saga_worker_restart import start_worker as orchestration_worker

READY_S = 60


def traced_env(
    tmp_path: Path, client: Client, receiver: OtlpReceiver, service: str, **settings: str
) -> dict[str, str]:
    """A child's environment: ``ORCH_*`` for ``client``'s server, ``OTEL_*`` for ``receiver``."""
    return child_env(tmp_path, client, **settings) | receiver.env(service)


async def start_worker(
    tmp_path: Path, client: Client, receiver: OtlpReceiver, queue: str, **settings: str
) -> ManagedProcess:
    """``orchestration worker`` on ``queue``, exporting as ``orchestration-worker``."""
    address = client.service_client.config.target_host
    env = receiver.env("orchestration-worker") | {f"ORCH_{k}": v for k, v in settings.items()}
    return await orchestration_worker(address, queue, tmp_path, free_port(), env)


async def start_csrd_agents(
    tmp_path: Path, client: Client, receiver: OtlpReceiver, **settings: str
) -> ManagedProcess:
    """``orchestration agent examples.csrd.agents:ALL_AGENTS``, once its four agents poll."""
    # They register only with a registry service named (REGISTRY_URL=...).
    settings = {"AGENT_REGISTER": str("REGISTRY_URL" in settings).lower()} | settings
    env = traced_env(tmp_path, client, receiver, "csrd-agents", **settings)
    agents = await ManagedProcess.spawn(
        "csrd agents",
        [sys.executable, "-m", "orchestration.cli", "agent", "examples.csrd.agents:ALL_AGENTS"],
        log_file=tmp_path / "agents.log",
        env=env,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_S
    while agents.log_file.read_text().count("polling task queue") < 4:  # text or JSON
        assert agents.alive, agents.log_file.read_text()[-3000:]
        assert loop.time() < deadline, agents.log_file.read_text()[-3000:]
        await asyncio.sleep(0.1)
    return agents


async def start_registry(
    tmp_path: Path, client: Client, receiver: OtlpReceiver
) -> tuple[ManagedProcess, str]:
    """``orchestration registry serve`` on SQLite in a state dir of its own; (process, URL)."""
    port = free_port()
    state = tmp_path / "registry"
    env = traced_env(
        state, client, receiver, "orchestration-registry",
        REGISTRY_PORT=str(port), LOG_LEVEL="WARNING",
    )  # fmt: skip
    service = await ManagedProcess.spawn(
        "registry service",
        [sys.executable, "-m", "orchestration.cli", "registry", "serve"],
        log_file=tmp_path / "registry.log",
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    await wait_for_http(
        "registry service", f"{url}/health", timeout_s=READY_S,
        process=service, log_file=service.log_file,
    )  # fmt: skip
    return service, url
