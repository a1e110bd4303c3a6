"""Run the registry service with uvicorn, in this process, until SIGINT or SIGTERM.

The listening socket is bound here, not by uvicorn, and the application's lifespan runs
here too, so a taken port or an unreachable database becomes an exception for the caller
(uvicorn would log it and call ``sys.exit``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from orchestration.core.exceptions import ConfigurationError, PortInUseError
from orchestration.core.network import is_loopback
from orchestration.core.settings import Settings
from registry.service.app import create_app_from_settings
from registry.service.auth import TOKEN_SETTING

__all__ = ["serve"]

logger = logging.getLogger(__name__)

HOST_SETTING = "ORCH_REGISTRY_HOST"
PORT_SETTING = "ORCH_REGISTRY_PORT"
_GRACEFUL_SHUTDOWN_S = 10


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: :func:`serve` installs loop handlers instead
    (uvicorn's would re-raise the signal after shutting down)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _check_exposure(settings: Settings) -> None:
    host = settings.registry.host
    if settings.registry.token is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve the registry on {host} without a token: set {TOKEN_SETTING}, "
            f"or set {HOST_SETTING}=127.0.0.1",
            setting=TOKEN_SETTING,
        )


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigurationError(
            f"cannot resolve the registry host {host!r} ({exc.strerror}): fix {HOST_SETTING}",
            setting=HOST_SETTING,
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(port, PORT_SETTING, part="the registry service") from None
        raise ConfigurationError(
            f"cannot listen on {host}:{port} ({exc.strerror}): fix {HOST_SETTING}",
            setting=HOST_SETTING,
        ) from None
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed: dict[signal.Signals, Any] = {}

    def stop(received: signal.Signals) -> None:
        if server.should_exit and received is signal.SIGINT:
            server.force_exit = True  # a second Ctrl-C: stop waiting for open requests
        server.should_exit = True
        logger.info("registry service stopping (%s)", received.name)

    for received in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(received)
        try:
            loop.add_signal_handler(received, stop, received)
        except (NotImplementedError, RuntimeError, ValueError):
            # Not the main thread (or not Unix): the caller stops us by cancelling instead.
            continue
        installed[received] = previous
    try:
        yield
    finally:
        for received, previous in installed.items():
            loop.remove_signal_handler(received)
            if previous is not None:
                signal.signal(received, previous)


async def serve(settings: Settings, *, handle_signals: bool = True) -> None:
    """Serve the registry at ``settings.registry.host:port`` until SIGINT/SIGTERM.

    Returns after a graceful shutdown (open requests finish, pending heartbeats are written).
    Cancelling the calling task shuts down the same way, then re-raises the cancellation.

    Args:
        settings: the database, the registry section (host, port, token, timings).
        handle_signals: install SIGINT/SIGTERM handlers on the running loop; pass False
            when the caller owns the signals (then cancel the task to stop).

    Raises:
        ConfigurationError: a non-loopback host without a token, or an unusable setting.
        PortInUseError: the port is taken.
        DatabaseUnavailableError: the database cannot be reached at startup.
    """
    _check_exposure(settings)
    config = settings.registry
    app = create_app_from_settings(settings)
    sock = _bind(config.host, config.port)
    server = _Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            lifespan="off",  # run below, so that startup errors reach the caller
            log_config=None,  # keep the process's logging as configured
            server_header=False,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        )
    )
    try:
        async with app.router.lifespan_context(app):
            with _stop_on_signals(server) if handle_signals else contextlib.nullcontext():
                logger.info(
                    "registry service on http://%s:%d (%s)",
                    config.host,
                    config.port,
                    "token required" if config.token is not None else "no token, loopback only",
                )
                serving = asyncio.ensure_future(server.serve(sockets=[sock]))
                try:
                    await asyncio.shield(serving)
                except asyncio.CancelledError:
                    server.should_exit = True
                    await serving
                    raise
    finally:
        sock.close()
