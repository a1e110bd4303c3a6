"""`orchestration up` as users run it: a real subprocess starting real servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.samples import Sample
from temporalio import activity
from temporalio.worker import Worker

from orchestration.core.connections import TemporalConfig
from orchestration.core.metrics import (
    AGENT_FAMILIES,
    BRIDGE_FAMILIES,
    BUS_FAMILIES,
    REGISTRY_FAMILIES,
    WORKER_FAMILIES,
)
from orchestration.core.settings import Settings
from orchestration.core.temporal_client import connect
from orchestration.stack.commands import settings_env
from orchestration.testing.ports import free_ports

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
    extra_env: dict[str, str] = field(default_factory=dict)

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
        env.update(self.extra_env)
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


SEED_METRICS = (
    "message_bus_sent_total",
    "message_bus_latency_ms",
    "message_bus_connections",
    "routing_messages_total",
    "routing_latency_ms",
    "scatter_gather_duration_ms",
    "swarm_agents_total",
    "swarm_convergence_time_ms",
    "swarm_efficiency",
    "saga_executions_total",
    "saga_steps_total",
    "saga_compensations_total",
    "saga_duration_ms",
    "registry_agents_total",
    "registry_discovery_latency_ms",
    "registry_agent_health",
)
"""Every metric name of the quick reference's Prometheus list."""

NOT_EXERCISED = ("message_bus_sent_total", "scatter_gather_duration_ms", "swarm_agents_total")
EXERCISED = tuple(name for name in SEED_METRICS if name not in NOT_EXERCISED)
"""Seed metrics the test's traffic leaves samples of. The others are declared with no sample:
nothing was published, no scatter-gather ran, and ``swarm_agents_total{swarm_id,role}`` exists
only while its swarm runs (removed at the end, so ids do not pile up)."""


PLATFORM = ("process_", "python_")
"""The client library's collectors, which every endpoint serves."""
SEED_NAME_FINDINGS = {
    f"{family} metric names should not contain abbreviated units"
    for name in SEED_METRICS
    if name.endswith("_ms")
    for family in (name, f"{name}_created")
} | {'registry_agents_total non-counter metrics should not have "_total" suffix'}
"""What ``promtool check metrics`` says of the quick reference's own names (``*_ms``, and
the client library's ``*_ms_created``; a gauge named ``registry_agents_total``): the names
users' dashboards already query, kept."""


def scrape_text(text: str) -> dict[str, list[Sample]]:
    """Metric family name -> samples of an exposition-format text."""
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


def exposition(url: str, headers: dict[str, str] | None = None) -> str:
    """The text one /metrics endpoint serves."""
    response = httpx.get(url, headers=headers, timeout=10)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:200]}"
    return response.text


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, list[Sample]]:
    """Metric family name -> samples of one /metrics endpoint (the exposition format parsed)."""
    return scrape_text(exposition(url, headers))


def promtool_findings(text: str) -> set[str]:
    """What ``promtool check metrics`` (Prometheus's own linter) says of ``text``; an empty
    set when it is not installed (``.ci/run`` installs it)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return set()
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    said = (checked.stdout + checked.stderr).decode()
    assert checked.returncode in (0, 3), said  # 3: lint findings, anything else: it failed
    return {line.strip() for line in said.splitlines() if line.strip()}


async def poll_scrape(
    urls: list[str], wanted: tuple[str, ...], deadline_s: float
) -> dict[str, list[Sample]]:
    """Scrape ``urls`` until every ``wanted`` family has a sample (or the deadline passes)."""
    deadline = time.monotonic() + deadline_s
    while True:
        families: dict[str, list[Sample]] = {}
        for url in urls:
            for name, samples in scrape(url).items():
                families.setdefault(name, []).extend(samples)
        missing = [name for name in wanted if not samples_of(families, name)]
        if not missing or time.monotonic() > deadline:
            return families
        await asyncio.sleep(0.3)


def samples_of(families: dict[str, list[Sample]], metric: str) -> list[Sample] | None:
    """The samples of ``metric``: the parser names counter families without ``_total``."""
    found = families.get(metric)
    return found if found is not None else families.get(metric.removesuffix("_total"))


@contextlib.contextmanager
def csrd_agents(config: UpConfig, metrics_port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`orchestration agent examples.csrd.agents:ALL_AGENTS` beside the stack, as the README
    runs it, serving its /metrics on ``metrics_port``; stopped with SIGTERM at the end."""
    log = config.workdir / "agents.log"
    env = {key: value for key, value in config.env().items() if key not in config.extra_env}
    env["ORCH_AGENT_METRICS_PORT"] = str(metrics_port)  # the stack's own ports stay its own
    with log.open("wb") as out:
        agents = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "agent", "examples.csrd.agents:ALL_AGENTS"],
            env=env,
            cwd=config.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while log.read_text().count("polling task queue") < 4:
            assert agents.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        yield agents
    finally:
        agents.send_signal(signal.SIGTERM)
        try:
            agents.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            agents.kill()
            agents.wait()


async def run_traffic(config: UpConfig, settings: Settings, unique: str) -> None:
    """A compensated saga, a swarm, registry calls, a routing decision and bridged messages;
    the CSRD agents run beside the stack (:func:`csrd_agents`)."""
    from examples.bridge.facility_emissions import FacilityEmissionsWorkflow
    from examples.csrd.saga import csrd_transaction
    from examples.swarm.agents import make_agents
    from orchestration.clients.saga import SagaOrchestrator
    from orchestration.clients.swarm import SwarmOrchestrator
    from orchestration.core.exceptions import SagaError
    from orchestration.core.settings import SwarmConfig
    from swarm.scheduling import SwarmBehavior
    from workflows.swarm_models import SourceRef, SwarmTask

    client = await connect(settings)
    stop = asyncio.Event()
    swarm_agents = make_agents(0, 2, prefix=f"metrics-{unique}")
    runs = [asyncio.create_task(a.run(settings, client=client, stop=stop)) for a in swarm_agents]
    try:
        saga = SagaOrchestrator(None, settings=settings, client=client)
        with pytest.raises(SagaError):
            await asyncio.wait_for(
                saga.execute(
                    csrd_transaction(f"metrics-csrd-{unique}"),
                    {"company": "Beta Cement", "period": "2025", "inject_invalid_record": True},
                ),
                READY_TIMEOUT_S,
            )
        swarm = SwarmOrchestrator(
            client=client, settings=settings, config=SwarmConfig(min_agents=1)
        )
        await asyncio.wait_for(
            swarm.deploy(
                SwarmTask(
                    objective="metrics",
                    data_partitions=8,
                    agents_required=2,
                    agents=[a.agent_id for a in swarm_agents],
                    behavior=SwarmBehavior.FORAGING,
                    action="calculate_emissions",
                    source=SourceRef(
                        agent_id=swarm_agents[0].agent_id,
                        action="list_partitions",
                        params={"partitions": 8},
                    ),
                    swarm_id=f"metrics-swarm-{unique}",
                )
            ),
            READY_TIMEOUT_S,
        )
    finally:
        stop.set()
        await asyncio.gather(*runs)

    api = f"http://127.0.0.1:{config.registry_port}"
    async with httpx.AsyncClient(base_url=api, timeout=10) as http:
        for n in range(3):
            descriptor = {
                "agent_id": f"metrics-calc-{n}",
                "agent_type": "CarbonCalculatorAgent",
                "version": "2.1.0",
                "capabilities": ["carbon_calculation"],
            }
            assert (await http.post("/agents", json=descriptor)).status_code == 201
        found = await http.post("/discover", json={"capabilities": ["carbon_calculation"]})
        assert found.status_code == 200, found.text
        rule = {
            "name": "route_calculations",
            "condition": "payload.get('task') == 'calculate'",
            "targets": [f"metrics-calc-{n}" for n in range(3)],
            "strategy": "least_loaded",
        }
        assert (await http.put("/route-rules/route_calculations", json=rule)).status_code == 200
        message = {"sender_id": "metrics-test", "payload": {"task": "calculate"}}
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (routed := await http.post("/route", json={"message": message})).status_code != 200:
            # the router sees new agents with the next snapshot sync (about a second)
            assert routed.status_code == 409 and time.monotonic() < deadline, routed.text
            await asyncio.sleep(0.2)

    from bus.message import Message
    from bus.message_bus import MessageBus

    async with Worker(
        client, task_queue=f"facilities-{unique}", workflows=[FacilityEmissionsWorkflow]
    ):
        async with MessageBus(settings.kafka) as bus:
            for n in range(3):
                await bus.publish(
                    Message(
                        sender_id="meter",
                        payload={
                            "facility_id": f"{unique}-{n}",
                            "kwh": 100,
                            "factor_kg_per_kwh": 0.233,
                        },
                    ),
                    topic=f"readings-{unique}",
                )
        handle = client.get_workflow_handle(f"facility-{unique}-2")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            with contextlib.suppress(Exception):
                await handle.describe()
                break
            assert time.monotonic() < deadline, "the bridge never started the workflow"
            await asyncio.sleep(0.2)


async def test_a_running_stack_serves_every_seed_metric(tmp_path: Path, unique: str) -> None:
    sdk_port, bridge_port, agent_port = free_ports(3)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "routes:\n"
        f"  - topic: readings-{unique}\n"
        "    workflow: FacilityEmissionsWorkflow\n"
        "    workflow_id: 'facility-{payload.facility_id}'\n"
        "    signal: reading\n"
        f"    task_queue: facilities-{unique}\n"
    )
    config = UpConfig.fresh(tmp_path)
    config.extra_env = {
        "ORCH_TEMPORAL_METRICS_PORT": str(sdk_port),
        "ORCH_BRIDGE_CONFIG": str(routes),
        "ORCH_BRIDGE_METRICS_PORT": str(bridge_port),
        "ORCH_REGISTRY_HEALTH_CHECK_INTERVAL_S": "0.5",
    }
    settings = Settings(
        _env_file=None,
        temporal=TemporalConfig(address=config.temporal_address),
        kafka={"bootstrap_servers": [f"127.0.0.1:{config.kafka_port}"], "embedded": True},
    )
    endpoints = {
        f"http://127.0.0.1:{config.metrics_port}/metrics": WORKER_FAMILIES,
        f"http://127.0.0.1:{config.registry_port}/metrics": (*REGISTRY_FAMILIES, *BUS_FAMILIES),
        f"http://127.0.0.1:{bridge_port}/metrics": BRIDGE_FAMILIES,
        f"http://127.0.0.1:{agent_port}/metrics": AGENT_FAMILIES,
    }
    with orchestration_up(config) as up:
        await up.wait_ready()
        assert f"127.0.0.1:{sdk_port}" in up.output(), up.output()  # listed among the addresses
        with csrd_agents(config, agent_port):
            await run_traffic(config, settings, unique)
            families = await poll_scrape(list(endpoints), EXERCISED, READY_TIMEOUT_S)
            texts = {url: exposition(url) for url in endpoints}
        sdk = scrape(f"http://127.0.0.1:{sdk_port}/metrics")
        assert up.terminate() == 0, up.output()

    for url, prefixes in endpoints.items():  # each process serves what it updates, no more
        served = {name for name in scrape_text(texts[url]) if not name.startswith(PLATFORM)}
        strays = sorted(name for name in served if not name.startswith(prefixes))
        assert strays == [], f"{url} serves families it never updates: {strays}"
        assert served, f"{url} serves none of {prefixes}"
        assert promtool_findings(texts[url]) <= SEED_NAME_FINDINGS, (url, texts[url][:300])

    missing = [name for name in SEED_METRICS if samples_of(families, name) is None]
    assert missing == [], f"not served by any process of the stack: {missing}"
    silent = [name for name in EXERCISED if not samples_of(families, name)]
    assert silent == [], f"no samples for {silent}"
    for name in SEED_METRICS:
        if name.endswith("_ms"):  # histograms in milliseconds: a 1 ms bucket exists
            buckets = {s.labels.get("le") for s in families[name] if s.name.endswith("_bucket")}
            assert not families[name] or "1.0" in buckets, (name, buckets)
    for name, samples in families.items():
        for sample in samples:
            for value in sample.labels.values():
                assert "<" not in value and " object at " not in value, (name, sample.labels)
    statuses = {s.labels["status"] for s in families["saga_executions"]}
    assert "COMPENSATED" in statuses or "compensated" in statuses, statuses
    assert any(name.startswith("temporal_") for name in sdk), sorted(sdk)[:20]


def test_every_taken_port_is_named_at_once_and_exits_as_a_configuration_error(
    tmp_path: Path,
) -> None:
    config = UpConfig.fresh(tmp_path)
    with socket.socket() as kafka, socket.socket() as temporal:
        for squatter, port in ((kafka, config.kafka_port), (temporal, config.temporal_port)):
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "up"],
            env=config.env(), cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr  # a configuration problem, as the README says
    assert len(lines) == 1, result.stderr
    assert "2 ports the stack needs are already in use" in lines[0]
    for port, setting in (
        (config.kafka_port, "ORCH_KAFKA_BOOTSTRAP_SERVERS"),
        (config.temporal_port, "ORCH_TEMPORAL_ADDRESS"),
    ):
        assert f"{port} (" in lines[0] and setting in lines[0], lines[0]
