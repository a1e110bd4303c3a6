"""Check, before anything starts, that every port the stack will listen on is free."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from orchestration.core.exceptions import ConfigurationError, PortInUseError

__all__ = ["PortNeed", "check_ports", "in_use"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortNeed:
    """A port one part of the stack will listen on.

    Attributes:
        part: what listens there, e.g. ``"Temporal gRPC"``.
        host: the interface it binds (a name or an address).
        port: the port number.
        setting: the environment variable that moves it, e.g. ``ORCH_TEMPORAL_ADDRESS``.
    """

    part: str
    host: str
    port: int
    setting: str


def _bind_addresses(host: str, port: int) -> list[tuple[socket.AddressFamily, tuple[str, int]]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot resolve host {host!r}: {exc}") from exc
    seen: list[tuple[socket.AddressFamily, tuple[str, int]]] = []
    for family, _, _, _, sockaddr in infos:
        entry = (family, (str(sockaddr[0]), int(sockaddr[1])))
        if entry not in seen:
            seen.append(entry)
    return seen


def in_use(need: PortNeed) -> bool:
    """True when something already listens on ``need``'s port.

    The probe binds with ``SO_REUSEADDR``, like the servers do, so connections of an earlier
    run lingering in TIME_WAIT do not count as "in use" while a listener does.
    """
    for family, address in _bind_addresses(need.host, need.port):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
                # e.g. ::1 on a machine without IPv6: the server cannot use it either.
                log.debug("skipping %s for %s: %s", address, need.part, exc)
    return False


def check_ports(needs: Iterable[PortNeed]) -> None:
    """Check that the ports are distinct and free, every one before saying which are not.

    Raises:
        ConfigurationError: two parts are configured on the same port.
        PortInUseError: ports are taken; the message lists each with the setting that moves it.
    """
    by_port: dict[int, PortNeed] = {}
    busy: list[PortNeed] = []
    for need in needs:
        other = by_port.setdefault(need.port, need)
        if other is not need:
            raise ConfigurationError(
                f"{other.part} ({other.setting}) and {need.part} ({need.setting}) are both "
                f"configured on port {need.port}: move one of them",
                setting=need.setting,
            )
        if in_use(need):
            busy.append(need)
        else:
            log.debug("port %d for %s is free", need.port, need.part)
    if busy:
        first, *rest = busy
        raise PortInUseError(
            first.port,
            first.setting,
            part=first.part,
            also=[(n.port, n.setting, n.part) for n in rest],
        )
