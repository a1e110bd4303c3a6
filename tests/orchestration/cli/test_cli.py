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
    assert_one_line_error(result, 1, address, "ORCH_TEMPORAL_ADDRESS", "connection refused")
    assert "tonic" not in result.stderr  # one human line; the SDK's words under --verbose


def test_verbose_adds_what_the_library_said() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = orchestration("--verbose", "worker", env={"ORCH_TEMPORAL_ADDRESS": address})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 2, result.stderr
    assert lines[0].startswith("error: cannot reach Temporal") and "connection refused" in lines[0]
    assert lines[1].startswith("  detail: RuntimeError: Failed client connect")


def test_routine_library_logs_stay_out_of_info(tmp_path: Path) -> None:
    task = tmp_path / "task.json"
    task.write_text(Path("examples/inputs/swarm_emissions.json").read_text())
    env = {"ORCH_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "ORCH_STATE_DIR": str(tmp_path)}
    quiet = orchestration("swarm", "deploy", str(task), env=env)
    loud = orchestration("swarm", "deploy", str(task), env={**env, "ORCH_LOG_LEVEL": "DEBUG"})
    assert quiet.returncode == 1  # nothing to deploy to: the point is what was logged
    assert "alembic" not in quiet.stderr, quiet.stderr
    assert "cannot reach Temporal" in quiet.stderr
    assert "alembic.runtime.plugins" in loud.stderr  # still there when asked for
