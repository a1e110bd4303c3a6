"""`orchestration up` as users run it: a real subprocess starting real servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.worker import Worker

from orchestration.settings import Settings, TemporalConfig
from orchestration.stack.commands import settings_env
from orchestration.temporal_client import connect

pytestmark = pytest.mark.slow

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
PORT_SETTINGS = (
    "ORCH_TEMPORAL_ADDRESS",
    "ORCH_TEMPORAL_UI_PORT",
    "ORCH_KAFKA_BOOTSTRAP_SERVERS",
    "ORCH_METRICS_PORT",
    "ORCH_REGISTRY_PORT",
)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields start after the last ')'.
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> set[int]:
    tree = children_by_parent()
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_mentioning(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                if token.encode() in cmdline:
                    found.append(int(entry))
    return found


@dataclass
class UpConfig:
    """Where one `orchestration up` listens and keeps its state."""

    workdir: Path
    temporal_port: int
    ui_port: int
    kafka_port: int
    metrics_port: int
    registry_port: int

    @classmethod
    def fresh(cls, workdir: Path) -> UpConfig:
        return cls(workdir, *free_ports(5))

    @property
    def ports(self) -> tuple[int, ...]:
        return (
            self.temporal_port,
            self.ui_port,
            self.kafka_port,
            self.metrics_port,
            self.registry_port,
        )

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ORCH_")}
        env.update(
            ORCH_TEMPORAL_ADDRESS=self.temporal_address,
            ORCH_TEMPORAL_UI_PORT=str(self.ui_port),
            ORCH_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{self.kafka_port}",
            ORCH_METRICS_PORT=str(self.metrics_port),
            ORCH_REGISTRY_PORT=str(self.registry_port),
            ORCH_STATE_DIR=str(self.workdir / "state"),
        )
        return env


class RunningUp:
    """One `orchestration up` subprocess; its output goes to files in the work directory."""

    def __init__(self, config: UpConfig, run: int = 1) -> None:
        self.config = config
        self.stdout = config.workdir / f"up-{run}.out"
        self.stderr = config.workdir / f"up-{run}.err"
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orchestration.cli", "up"],
                env=config.env(),
                cwd=config.workdir,
                stdout=out,
                stderr=err,
            )
        self.children: set[int] = set()

    def output(self) -> str:
        return f"stdout:\n{self.stdout.read_text()}\nstderr:\n{self.stderr.read_text()}"

    async def wait_ready(self) -> None:
        """Poll until every port answers and `up` said so; remember the processes it started."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = set(self.config.ports)
        while waiting or "Ctrl-C to stop" not in self.stdout.read_text():
            assert self.process.poll() is None, f"`up` exited early\n{self.output()}"
            assert time.monotonic() < deadline, f"ports {waiting} never answered\n{self.output()}"
            for port in list(waiting):
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    waiting.discard(port)
            await asyncio.sleep(0.2)
        self.children = descendants(self.process.pid)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT_S)

    def cleanup(self) -> None:
        """Whatever happened, leave nothing running."""
        if self.process.poll() is None:
            self.children |= descendants(self.process.pid)
            self.process.kill()
            self.process.wait()
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def orchestration_up(config: UpConfig, run: int = 1) -> Iterator[RunningUp]:
    up = RunningUp(config, run)
    try:
        yield up
    finally:
        up.cleanup()


def test_settings_survive_the_trip_through_the_workers_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,
        state_dir=tmp_path,
        metrics_port=18080,
        temporal=TemporalConfig(address="127.0.0.1:17233", namespace="team-a", ui_port=18233),
        kafka={"bootstrap_servers": ["127.0.0.1:19092", "127.0.0.1:19093"], "embedded": False},
        registry={"token": "s3cret-token", "url": "http://127.0.0.1:18000"},
    )
    for key in list(os.environ):
        if key.startswith("ORCH_"):
            monkeypatch.delenv(key)
    for key, value in settings_env(settings).items():
        if value is not None:
            monkeypatch.setenv(key, value)
    assert Settings(_env_file=None) == settings
    restored = Settings(_env_file=None).registry.token
    assert restored is not None and restored.get_secret_value() == "s3cret-token"


async def test_up_serves_every_port_and_leaves_no_process_after_sigterm(tmp_path: Path) -> None:
    config = UpConfig.fresh(tmp_path)
    with orchestration_up(config) as up:
        await up.wait_ready()
        assert len(up.children) >= 4, up.output()  # Temporal, broker, registry, worker
        assert up.terminate() == 0, up.output()
        survivors = [pid for pid in up.children if is_running(pid)]
        assert survivors == [], up.output()


def test_a_taken_port_fails_fast_with_one_line_naming_its_setting(tmp_path: Path) -> None:
    config = UpConfig.fresh(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.kafka_port))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "up"],
            env=config.env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert str(config.kafka_port) in lines[0]
    assert "ORCH_KAFKA_BOOTSTRAP_SERVERS" in lines[0]
    assert "Traceback" not in result.stderr
    assert processes_mentioning(f"--port {config.temporal_port}") == []
    assert processes_mentioning(f"127.0.0.1:{config.kafka_port}") == []


@activity.defn(name="greet")
async def greet(request: dict[str, Any]) -> dict[str, Any]:
    return {"greeting": "hello " + request["data"]["name"]}


async def test_a_workflow_started_before_a_restart_completes_after_it(
    tmp_path: Path, unique: str
) -> None:
    config = UpConfig.fresh(tmp_path)
    settings = Settings(_env_file=None, temporal=TemporalConfig(address=config.temporal_address))
    agent_queue = f"agent-persist-{unique}"
    workflow_id = f"persist-{unique}"

    with orchestration_up(config, run=1) as up:
        await up.wait_ready()
        client = await connect(settings)
        handle = await client.start_workflow(
            "AgentTaskWorkflow",
            {"agent_id": agent_queue, "action": "greet", "data": {"name": "x"}},
            id=workflow_id,
            task_queue=settings.task_queue,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (await handle.describe()).raw_description.pending_activities:
            assert time.monotonic() < deadline, "the activity was never scheduled"
            await asyncio.sleep(0.2)
        assert up.terminate() == 0, up.output()

    with orchestration_up(config, run=2) as up:
        await up.wait_ready()
        client = await connect(settings)
        async with Worker(client, task_queue=agent_queue, activities=[greet]):
            result = await asyncio.wait_for(
                client.get_workflow_handle(workflow_id).result(), READY_TIMEOUT_S
            )
        assert up.terminate() == 0, up.output()

    assert result["output"] == {"greeting": "hello x"}
