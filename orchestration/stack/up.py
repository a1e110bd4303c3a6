"""``orchestration up``: run the embedded stack in the foreground until Ctrl-C or a crash."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestration.core.settings import Settings
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.stack import EmbeddedStack

__all__ = ["run_up"]

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_TAIL_LINES = 30


def _print_addresses(stack: EmbeddedStack, console: Console) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True, overflow="ignore")
    for name, address in stack.addresses.items():
        table.add_row(name, address)
    console.print(table, crop=False)
    ui = stack.addresses.get("Web UI")
    console.print(f"Web UI: {ui} · Ctrl-C to stop" if ui else "Ctrl-C to stop", soft_wrap=True)


def _print_failure(process: ManagedProcess, console: Console) -> None:
    console.print(
        f"[bold red]error:[/] {process.name} exited with code {process.returncode}; "
        f"last lines of {process.log_file}:",
        soft_wrap=True,
    )
    console.print(process.tail(_TAIL_LINES), markup=False, highlight=False, soft_wrap=True)


async def _first(*aws: asyncio.Future[Any]) -> set[asyncio.Future[Any]]:
    done, _ = await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)
    return done


async def run_up(settings: Settings) -> int:
    """Start the stack, print its addresses, and run until SIGINT/SIGTERM or a child dies.

    Returns:
        0 after a signal (also one received while starting), 1 when a part died (its log
        tail is printed).

    Raises:
        PortInUseError: a port is taken; nothing was started.
        StackError: a part did not start; whatever had started is stopped again.
    """
    # One request line per readiness poll would drown what the stack itself says.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        log.info("received %s: stopping", sig.name)
        stop_requested.set()

    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    stack = EmbeddedStack(settings)
    signalled = asyncio.ensure_future(stop_requested.wait())
    pending: list[asyncio.Future[Any]] = [signalled]
    try:
        starting = asyncio.ensure_future(stack.start())
        pending.append(starting)
        if starting not in await _first(starting, signalled):
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting  # start() stops whatever it had started
            return 0
        starting.result()
        _print_addresses(stack, out)

        failed = asyncio.ensure_future(stack.wait_failed())
        pending.append(failed)
        if failed not in await _first(failed, signalled):
            return 0
        _print_failure(failed.result(), err)
        return 1
    finally:
        for future in pending:
            future.cancel()
        await stack.stop()
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
