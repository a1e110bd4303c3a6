"""The registry service as a subprocess, as the reliability tests start it."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(port: int, state_dir: Path, **settings: str) -> dict[str, str]:
    """Our environment without ``ORCH_*``, plus the service's port, state dir and ``settings``
    (``ORCH_`` variables without the prefix, e.g. ``DATABASE_URL=...``)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORCH_")},
        "ORCH_REGISTRY_PORT": str(port),
        "ORCH_STATE_DIR": str(state_dir),
        "ORCH_LOG_LEVEL": "WARNING",
        **{f"ORCH_{name}": value for name, value in settings.items()},
    }
