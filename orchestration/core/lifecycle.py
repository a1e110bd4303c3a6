"""Starting and stopping: ``async with`` for components, waiting for the signal that tells a
process to stop, stopping a task, and ending the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from types import TracebackType
from typing import NoReturn, Self

from orchestration.core import tracing

__all__ = ["AsyncResource", "cancel_and_wait", "exit_process", "wait_for_stop_signal"]


class AsyncResource:
    """A component used as ``async with component: ...``.

    Entering awaits :meth:`initialize` and gives the component; leaving awaits :meth:`close`,
    whatever happened inside. Subclasses define ``close`` and, when they connect or load
    something first, ``initialize``.
    """

    async def initialize(self) -> None:
        """Connect or load what the component needs (nothing, unless a subclass says)."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def exit_process(code: int) -> NoReturn:
    """End the process with ``code`` once its output is flushed, skipping interpreter teardown.

    The Temporal SDK's runtime threads can abort a normal teardown after everything is done
    (``Fatal Python error: PyGILState_Release``, temporalio/sdk-python#300; seen in about 3 of
    10 runs of ``make demo``), turning a success into exit 134. Call it last, when every
    resource of the process is already closed. Spans still buffered are exported first
    (``os._exit`` skips the tracer provider's own exit hook).
    """
    tracing.flush()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel ``task`` and wait until it ended; an error it ended with is raised here."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_for_stop_signal() -> signal.Signals:
    """Return when SIGINT or SIGTERM arrives (handlers are removed again afterwards)."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def on_signal(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    watched = (signal.SIGINT, signal.SIGTERM)
    for sig in watched:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await received
    finally:
        for sig in watched:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
