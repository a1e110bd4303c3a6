"""Free loopback ports for servers started by tests and benchmarks.

A port returned here was free a moment ago and nothing listens on it, so it also serves as a
closed port to test refusals against.
"""

from __future__ import annotations

import contextlib
import socket

__all__ = ["free_port", "free_ports"]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (all held at once while picked)."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def free_port() -> int:
    """One free TCP port on 127.0.0.1."""
    [port] = free_ports(1)
    return port
