"""Wait, with a deadline, until a part of the stack answers.

Every wait polls with a short backoff and gives up at its deadline with a
:class:`StackError` that names the part and its log file. When the process being waited
for exits first, the wait fails at once instead of running out the clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from orchestration.core.exceptions import StackError
from orchestration.core.settings import Settings
from orchestration.core.temporal_client import connect
from orchestration.stack.processes import ManagedProcess

__all__ = [
    "NotReady",
    "wait_for_http",
    "wait_for_kafka",
    "wait_for_port",
    "wait_for_temporal",
    "wait_until",
]

log = logging.getLogger(__name__)

_FIRST_DELAY_S = 0.05
_MAX_DELAY_S = 0.5

Probe = Callable[[float], Awaitable[None]]
"""One attempt: returns when the part answered, raises :class:`NotReady` otherwise.

It receives the time it may take, in seconds."""


class NotReady(Exception):
    """A probe's answer: not yet, and why."""


def _see_log(log_file: Path | None) -> str:
    return f"; see {log_file}" if log_file else ""


async def wait_until(
    part: str,
    where: str,
    probe: Probe,
    *,
    timeout_s: float,
    attempt_timeout_s: float = 2.0,
    process: ManagedProcess | None = None,
    log_file: Path | None = None,
) -> None:
    """Call ``probe`` until it succeeds or ``timeout_s`` has passed.

    Args:
        part: what is awaited, for messages (``"Temporal"``).
        where: its address, for messages.
        probe: one attempt; see :data:`Probe`.
        timeout_s: the deadline, from now.
        attempt_timeout_s: the longest one attempt may take.
        process: the child that should answer; its exit ends the wait at once.
        log_file: named in errors (default: ``process``'s log file).

    Raises:
        StackError: the deadline passed, or ``process`` exited.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    log_file = log_file or (process.log_file if process else None)
    delay = _FIRST_DELAY_S
    reason = "no answer"
    while True:
        if process is not None and not process.alive:
            raise StackError(
                f"{part} exited with code {process.returncode} while starting{_see_log(log_file)}"
            )
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise StackError(
                f"{part} did not answer at {where} within {timeout_s:.0f} s ({reason})"
                f"{_see_log(log_file)}"
            )
        attempt = min(attempt_timeout_s, remaining)
        try:
            await asyncio.wait_for(probe(attempt), timeout=attempt + 0.5)
        except NotReady as exc:
            reason = str(exc) or reason
        except TimeoutError:
            reason = f"no answer within {attempt:.1f} s"
        else:
            log.debug("%s answers at %s", part, where)
            return
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 1.5, _MAX_DELAY_S)


async def wait_for_port(
    part: str,
    host: str,
    port: int,
    *,
    timeout_s: float,
    process: ManagedProcess | None = None,
    log_file: Path | None = None,
) -> None:
    """Wait until a TCP connection to ``host:port`` is accepted."""

    async def probe(attempt_s: float) -> None:
        try:
            _reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            raise NotReady(str(exc)) from exc
        writer.close()
        await writer.wait_closed()

    await wait_until(
        part, f"{host}:{port}", probe, timeout_s=timeout_s, process=process, log_file=log_file
    )


async def wait_for_temporal(
    settings: Settings,
    *,
    timeout_s: float,
    process: ManagedProcess | None = None,
    log_file: Path | None = None,
) -> None:
    """Wait until the Temporal frontend at ``settings.temporal.address`` accepts a client."""

    async def probe(attempt_s: float) -> None:
        try:
            await connect(settings, timeout_s=attempt_s)
        except StackError as exc:
            raise NotReady(str(exc.__cause__ or exc)) from exc

    await wait_until(
        "Temporal",
        settings.temporal.address,
        probe,
        timeout_s=timeout_s,
        attempt_timeout_s=5.0,
        process=process,
        log_file=log_file,
    )


async def wait_for_kafka(
    bootstrap_servers: Sequence[str],
    *,
    timeout_s: float,
    process: ManagedProcess | None = None,
    log_file: Path | None = None,
) -> None:
    """Wait until the Kafka cluster answers a metadata request."""

    async def probe(attempt_s: float) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=list(bootstrap_servers),
            request_timeout_ms=max(100, int(attempt_s * 1000)),
        )
        try:
            await admin.start()
        except (KafkaError, OSError) as exc:
            raise NotReady(str(exc)) from exc
        finally:
            await admin.close()

    await wait_until(
        "Kafka",
        ",".join(bootstrap_servers),
        probe,
        timeout_s=timeout_s,
        process=process,
        log_file=log_file,
    )


async def wait_for_http(
    part: str,
    url: str,
    *,
    timeout_s: float,
    process: ManagedProcess | None = None,
    log_file: Path | None = None,
) -> None:
    """Wait until ``GET url`` returns 200."""
    async with httpx.AsyncClient(trust_env=False) as client:

        async def probe(attempt_s: float) -> None:
            try:
                response = await client.get(url, timeout=attempt_s)
            except httpx.HTTPError as exc:
                raise NotReady(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code != 200:
                raise NotReady(f"HTTP {response.status_code}")

        await wait_until(part, url, probe, timeout_s=timeout_s, process=process, log_file=log_file)
