"""What each child of the embedded stack runs: its command line and its environment."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, SecretStr

from orchestration.core.network import url_host
from orchestration.core.search_attributes import REGISTERED
from orchestration.core.settings import Settings
from orchestration.core.temporal_client import PRIORITY_SERVER_ARGS
from orchestration.stack.binaries import tansu_path, temporal_cli_path

__all__ = [
    "bridge_command",
    "registry_command",
    "settings_env",
    "tansu_command",
    "temporal_command",
    "worker_command",
    "worker_env",
]


def temporal_command(settings: Settings) -> list[str]:
    """``temporal server start-dev`` for the embedded Temporal.

    History lives in ``settings.temporal_db_file`` (SQLite in WAL mode), so workflows survive
    a restart. The dev server's HTTP API and metrics ports are left random: it opens several
    other random internal ports anyway, and nothing here uses those two.
    """
    temporal = settings.temporal
    argv = [
        temporal_cli_path(), "server", "start-dev",
        "--ip", temporal.host,
        "--port", str(temporal.port),
        "--ui-port", str(temporal.ui_port),
        "--db-filename", str(settings.temporal_db_file),
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        "--ui-disable-news-fetch",
        "--log-level", "warn",
        *PRIORITY_SERVER_ARGS,
    ]  # fmt: skip
    if temporal.namespace != "default":
        argv += ["--namespace", temporal.namespace]
    for name, kind in REGISTERED.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    return argv


def tansu_command(settings: Settings) -> list[str]:
    """The Tansu broker with in-memory storage, listening where the bus will connect."""
    url = f"tcp://{url_host(settings.kafka.host)}:{settings.kafka.port}"
    return [
        tansu_path(), "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip


def registry_command() -> list[str]:
    """The registry and router HTTP service, run by this interpreter."""
    return [sys.executable, "-m", "orchestration.cli", "registry", "serve"]


def bridge_command() -> list[str]:
    """The Kafka -> Temporal bridge, run by this interpreter (routes from ORCH_BRIDGE_CONFIG)."""
    return [sys.executable, "-m", "orchestration.cli", "bridge"]


def worker_command() -> list[str]:
    """The orchestration worker, run by this interpreter."""
    return [sys.executable, "-m", "orchestration.cli", "worker"]


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()  # the child needs the secret itself, not its mask
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ",".join(value)
    if isinstance(value, list | dict | BaseModel):
        return json.dumps(value.model_dump(mode="json") if isinstance(value, BaseModel) else value)
    return str(value)


def settings_env(settings: Settings) -> dict[str, str | None]:
    """``settings`` as ``ORCH_*`` variables; ``None`` marks a variable to unset.

    Sections become ``ORCH_<SECTION>_<FIELD>`` (the settings' nested delimiter), so a child
    process reading its environment gets the same settings, keyword overrides included.
    """
    prefix = str(settings.model_config.get("env_prefix") or "")
    env: dict[str, str | None] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            for field in type(value).model_fields:
                sub = getattr(value, field)
                env[f"{prefix}{name}_{field}".upper()] = None if sub is None else _env_value(sub)
        else:
            env[f"{prefix}{name}".upper()] = None if value is None else _env_value(value)
    return env


def worker_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: ``base`` (default: ours) plus :func:`settings_env`."""
    env = dict(os.environ if base is None else base)
    for key, value in settings_env(settings).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PYTHONUNBUFFERED"] = "1"  # so its log file is current when we show its tail
    return env
