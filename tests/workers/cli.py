"""Run ``orchestration ...`` as users do: a subprocess, without blocking the test's loop."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass


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
