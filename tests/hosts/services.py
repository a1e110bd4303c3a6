"""Our processes on a bed's hosts: each in its host's namespace, configured by addresses."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from orchestration.core.connections import KafkaConfig, TemporalConfig
from orchestration.core.settings import Settings
from orchestration.stack.commands import temporal_command
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_temporal
from tests.hosts.bed import Host

TOKEN = "bed-registry-token-0123456789abcdef"
REGISTRY_PORT = 8000
READY_S = 60


def our_env(state_dir: Path, **settings: str) -> dict[str, str]:
    """Our environment without ``ORCH_*``/``OTEL_*``, plus ``settings`` (``ORCH_`` names
    without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "OTEL_"))}
    env["ORCH_STATE_DIR"] = str(state_dir)
    return env | {f"ORCH_{name}": value for name, value in settings.items()}


async def run_on(host: Host, argv: list[str], env: dict[str, str], timeout_s: float = 120) -> str:
    """Run ``argv`` on ``host`` to its end; its output (fails with it on a non-zero exit)."""
    process = await asyncio.create_subprocess_exec(
        *host.command(argv), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    text = out.decode()
    assert process.returncode == 0, f"{' '.join(argv)} on {host.name} failed:\n{text}"
    return text


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestration.cli", *args]


async def registry_service(
    host: Host, database_url: str, state_dir: Path, log_dir: Path
) -> ManagedProcess:
    """``orchestration registry serve`` on ``host``'s address, once it answers /health."""
    env = our_env(
        state_dir, DATABASE_URL=database_url, DATABASE_AUTO_MIGRATE="false",
        REGISTRY_HOST=host.address, REGISTRY_PORT=str(REGISTRY_PORT), REGISTRY_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
    )  # fmt: skip
    service = await ManagedProcess.spawn(
        f"registry on {host.name}",
        host.command(cli("registry", "serve")),
        log_file=log_dir / f"registry-{host.name}.log",
        env=env,
    )
    await until_healthy(host.url(REGISTRY_PORT), service)
    return service


async def until_healthy(url: str, process: ManagedProcess) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_S
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert process.alive, process.tail()
            assert loop.time() < deadline, f"{url} not healthy within {READY_S} s"
            await asyncio.sleep(0.2)


def core_settings(host: Host, state_dir: Path) -> Settings:
    """Where Temporal (7233) and the broker (9092) on ``host`` are."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        state_dir=state_dir,
        temporal=TemporalConfig(address=f"{host.address}:7233", ui_port=8233),
        kafka=KafkaConfig(bootstrap_servers=[f"{host.address}:9092"]),
    )


async def start_temporal(host: Host, settings: Settings, log_dir: Path) -> ManagedProcess:
    """Temporal's dev server on ``host``, once it takes a client."""
    # Every interface of the host: the dev server's own services dial each other on
    # 127.0.0.1 (bound to the host's address only, its frontend cannot reach its history).
    argv = temporal_command(settings)
    argv[argv.index("--ip") + 1] = "0.0.0.0"
    temporal = await ManagedProcess.spawn(
        "temporal", host.command(argv), log_file=log_dir / "temporal.log"
    )
    await wait_for_temporal(settings, timeout_s=READY_S, process=temporal)
    return temporal


def temporal_env(settings: Settings, state_dir: Path, **more: str) -> dict[str, str]:
    """:func:`our_env` reaching ``settings``' Temporal and broker."""
    return our_env(
        state_dir,
        TEMPORAL_ADDRESS=settings.temporal.address,
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers[0],
        # Tansu's memory storage refuses idempotent producers; on loopback that is the
        # default, here the bed must say so (a Kafka cluster keeps idempotence on).
        KAFKA_IDEMPOTENT="false",
        **more,
    )
