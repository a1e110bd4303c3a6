"""The embedded stack for benchmarks: on free ports, in a throwaway state directory."""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from orchestration.core.connections import KafkaConfig, RegistryConfig, TemporalConfig
from orchestration.core.settings import Settings
from orchestration.stack import EmbeddedStack

__all__ = ["DEFAULT_PORTS", "bench_settings", "embedded_stack", "free_ports"]

log = logging.getLogger("bench.stack")

DEFAULT_PORTS = frozenset({7233, 8233, 9092, 8080, 8000, 8082})
"""The stack's default ports: never handed out, so a running `orchestration up` is no clash."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1, never one of the stack's defaults."""
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            probe = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
            if port not in DEFAULT_PORTS:
                ports.append(port)
        return ports


def bench_settings(state_dir: Path, name: str) -> Settings:
    """Settings of a stack of its own: free ports, ``state_dir``, a fresh task queue."""
    temporal_port, ui_port, kafka_port, metrics_port, registry_port = free_ports(5)
    return Settings(
        temporal=TemporalConfig(address=f"127.0.0.1:{temporal_port}", ui_port=ui_port),
        kafka=KafkaConfig(bootstrap_servers=[f"127.0.0.1:{kafka_port}"]),
        registry=RegistryConfig(port=registry_port),
        metrics_port=metrics_port,
        state_dir=state_dir,
        task_queue=f"bench-{name}-{uuid.uuid4().hex[:8]}",
    )


@contextlib.asynccontextmanager
async def embedded_stack(name: str) -> AsyncIterator[EmbeddedStack]:
    """A started ``EmbeddedStack``, stopped (and its state removed) afterwards; a failure
    logs the last lines of every process's log."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as state_dir:
        stack = EmbeddedStack(bench_settings(Path(state_dir), name))
        try:
            await stack.start()
            yield stack
        except BaseException:
            for process in stack.processes:
                log.error("last lines of %s's log:\n%s", process.name, process.tail(15))
            raise
        finally:
            await stack.stop()
