"""Run ``orchestration ...`` as users do: a subprocess, without blocking the test's loop."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

from temporalio.client import Client


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


async def orchestration(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
) -> CliResult:
    """``python -m orchestration.cli *args`` with ``env`` added to ours."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestration.cli", *args,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


def cli_env(client: Client, task_queue: str, **settings: str) -> dict[str, str]:
    """The ``ORCH_*`` variables of a CLI run against ``client``'s server and ``task_queue``,
    plus ``settings`` (``SAGA_STEP_START_TIMEOUT_MS="1000"`` for ``ORCH_SAGA_...``)."""
    return {
        "ORCH_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "ORCH_TASK_QUEUE": task_queue,
        **{f"ORCH_{name}": value for name, value in settings.items()},
    }
