"""Child processes as the reliability tests start them: their environment, and free ports."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client


def child_env(state_dir: Path, client: Client | None = None, **settings: str) -> dict[str, str]:
    """Our environment without ``ORCH_*``, plus the state dir, the Temporal server ``client``
    is connected to, and ``settings`` (``ORCH_`` variables without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["ORCH_STATE_DIR"] = str(state_dir)
    if client is not None:
        env["ORCH_TEMPORAL_ADDRESS"] = client.service_client.config.target_host
        env["ORCH_TEMPORAL_NAMESPACE"] = client.namespace
    return env | {f"ORCH_{name}": value for name, value in settings.items()}


def service_env(port: int, state_dir: Path, **settings: str) -> dict[str, str]:
    """The registry service's environment: :func:`child_env` with its port, logging warnings
    unless ``settings`` say otherwise (e.g. ``DATABASE_URL=...``)."""
    return child_env(state_dir, **({"REGISTRY_PORT": str(port), "LOG_LEVEL": "WARNING"} | settings))
