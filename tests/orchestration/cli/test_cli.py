"""The `orchestration` command, run as users run it: a subprocess, errors in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.testing.ports import free_port
from registry.store.migrations import revisions


def orchestration(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, *needles: str
) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_db_upgrade_applies_the_migrations_once(tmp_path: Path) -> None:
    env = {"ORCH_STATE_DIR": str(tmp_path)}
    first = orchestration("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied" in first.stdout and all(r in first.stdout for r in revisions())
    again = orchestration("db", "upgrade", env=env)
    assert again.returncode == 0 and "up to date" in again.stdout
    current = orchestration("db", "current", env=env)
    assert current.stdout.strip() == revisions()[-1]
    assert (tmp_path / "registry.db").is_file()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ORCH_METRICS_PORT", "not-a-port"), ("ORCH_DATABASE_URL", "mysql://root@db/orch")],
)
def test_a_bad_setting_is_one_line_naming_the_variable(variable: str, value: str) -> None:
    result = orchestration("db", "upgrade", env={variable: value})
    assert_one_line_error(result, 2, variable)


def test_an_unknown_agent_spec_is_one_line() -> None:
    result = orchestration("agent", "no_such_module:agent", env={})
    assert_one_line_error(result, 2, "no_such_module")


def test_the_worker_says_where_it_could_not_reach_temporal() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = orchestration("worker", env={"ORCH_TEMPORAL_ADDRESS": address})
    assert_one_line_error(result, 1, address, "ORCH_TEMPORAL_ADDRESS")
