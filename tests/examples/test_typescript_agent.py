"""``examples/agents/typescript/``: an agent in another language, in real sagas.

The TypeScript worker (the official Temporal TypeScript SDK) runs as its own process against
the session's Temporal dev server, on a fresh task queue per test; this process runs the
orchestration worker and a Python agent for the saga's second step. The worker writes every
call it answers to a journal (``STOCK_JOURNAL``), one JSON line each, which the tests read.

Skipped, with the reason, when ``node`` or ``npm`` is missing, Node is older than the SDK
needs, or the example's packages are not installed and the npm registry cannot be reached.
Installed packages (``node_modules`` matching ``package-lock.json``) are reused offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from orchestration import ActionContext, Agent, AgentDescriptor, SagaOrchestrator, Settings
from orchestration.exceptions import AgentError, SagaError
from workers.orchestration_worker import build_worker
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput
from workflows.saga_models import SagaStep, SagaTransaction

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "typescript"
WORKER_JS = EXAMPLE / "lib" / "worker.js"
MIN_NODE = (20, 3)
"""@temporalio/worker's ``engines``."""

PING_TIMEOUT_S = 30.0
INSTALL_TIMEOUT_S = 600.0
BUILD_TIMEOUT_S = 120.0
LOCK_TIMEOUT_S = INSTALL_TIMEOUT_S + BUILD_TIMEOUT_S
START_TIMEOUT_S = 30.0
SAGA_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

NETWORK_ERRORS = re.compile(
    r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH"
    r"|ERR_SOCKET_TIMEOUT|network request|request to \S+ failed)\b"
)
"""What npm prints when it cannot reach the registry."""

STOCK = 100
"""Units of every SKU the TypeScript agent starts with (its ``STOCK_PER_SKU`` default)."""


# -- Installing and building the example, or skipping -------------------------------------


def _run(command: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    return subprocess.run(
        command,
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return f"{done.stdout}{done.stderr}".strip()


def _npm_error(text: str) -> str:
    """The line of npm's output that says what went wrong."""
    lines = [line.removeprefix("npm error").strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if line.startswith("FetchError: "):
            return line.removeprefix("FetchError: ")
    for line in lines:
        if line.startswith("code "):
            return line
    return lines[-1] if lines else "no output"


def _installed() -> bool:
    """True when node_modules holds every pinned package, installed after the lockfile's
    last change (npm writes ``node_modules/.package-lock.json`` at the end of an install)."""
    hidden = EXAMPLE / "node_modules" / ".package-lock.json"
    if not hidden.exists():
        return False
    if hidden.stat().st_mtime < (EXAMPLE / "package-lock.json").stat().st_mtime:
        return False
    manifest = json.loads((EXAMPLE / "package.json").read_text(encoding="utf-8"))
    pins = {**manifest["dependencies"], **manifest["devDependencies"]}
    for name, version in pins.items():
        installed = EXAMPLE / "node_modules" / name / "package.json"
        if not installed.exists():
            return False
        if json.loads(installed.read_text(encoding="utf-8"))["version"] != version:
            return False
    return True


def _built() -> bool:
    """True when ``lib/worker.js`` is newer than every file it is built from."""
    if not WORKER_JS.exists():
        return False
    sources = [*EXAMPLE.joinpath("src").rglob("*.ts"), EXAMPLE / "tsconfig.json"]
    sources.append(EXAMPLE / "node_modules" / ".package-lock.json")
    return all(source.stat().st_mtime < WORKER_JS.stat().st_mtime for source in sources)


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """One test session at a time installs and builds the example (others wait)."""
    path = Path(tempfile.gettempdir()) / "greenlang-orchestration-typescript-agent.lock"
    with path.open("w") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another session held {path} for more than {LOCK_TIMEOUT_S} s")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_node(node: str | None, npm: str | None) -> None:
    if node is None:
        pytest.skip("`node` is not on PATH: the TypeScript agent needs Node.js >= 20.3")
    if npm is None:
        pytest.skip("`npm` is not on PATH: it installs the TypeScript agent's packages")
    version = _run([node, "--version"], 30).stdout.strip()
    found = re.match(r"v(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < MIN_NODE:
        pytest.skip(f"Node.js {version or '(unknown version)'} is older than the SDK's 20.3")


def _install(npm: str) -> None:
    """``npm ci``, or skip when the registry cannot be reached."""
    where = "examples/agents/typescript"
    try:
        ping = _run([npm, "ping", "--fetch-retries=0", "--fetch-timeout=20000"], PING_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.skip(f"the npm registry did not answer `npm ping` in {PING_TIMEOUT_S:.0f} s")
    if ping.returncode != 0:
        reason = _npm_error(_output(ping))
        pytest.skip(f"the npm registry cannot be reached to install {where}: {reason}")
    try:
        done = _run([npm, "ci", "--no-audit", "--no-fund"], INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.skip(f"`npm ci` in {where} did not finish in {INSTALL_TIMEOUT_S:.0f} s")
    if done.returncode != 0:
        output = _output(done)
        if NETWORK_ERRORS.search(output):
            pytest.skip(f"`npm ci` in {where} could not reach the registry: {_npm_error(output)}")
        pytest.fail(f"`npm ci` in {where} failed ({done.returncode}):\n{output}")


@pytest.fixture(scope="module")
def node() -> str:
    """The ``node`` binary, once the example is installed and ``lib/worker.js`` built."""
    node, npm = shutil.which("node"), shutil.which("npm")
    _check_node(node, npm)
    assert node is not None and npm is not None
    with _install_lock():
        if not _installed():
            _install(npm)
        if not _built():
            build = _run([npm, "run", "build"], BUILD_TIMEOUT_S)
            assert build.returncode == 0, f"`npm run build` failed:\n{_output(build)}"
    return node


# -- The TypeScript agent as a process -----------------------------------------------------


@dataclass
class TypeScriptAgent:
    """The worker process, its output and its journal."""

    process: asyncio.subprocess.Process
    log: Path
    journal: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def calls(self, activity: str) -> list[dict[str, Any]]:
        """The journal's entries for ``activity``: one per call that returned."""
        if not self.journal.exists():
            return []
        lines = self.journal.read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        return [entry for entry in entries if entry["activity"] == activity]

    def logged(self, activity: str) -> list[str]:
        """The worker's log lines for calls of ``activity``."""
        return [line for line in self.output().splitlines() if line.startswith(f"{activity} ")]


async def _wait_until_polling(client: Client, queue: str, agent: TypeScriptAgent) -> None:
    """Until Temporal lists this process among the pollers of ``queue``'s activities (its
    identity is ``<pid>@<host>``; a stopped worker stays listed for a while), failing after
    START_TIMEOUT_S."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while True:
        if agent.process.returncode is not None:
            pytest.fail(
                f"the TypeScript worker exited with {agent.process.returncode}:\n{agent.output()}"
            )
        described = await client.workflow_service.describe_task_queue(
            request, timeout=timedelta(seconds=5)
        )
        if any(p.identity.startswith(f"{agent.process.pid}@") for p in described.pollers):
            return
        if loop.time() > deadline:
            pytest.fail(
                f"the TypeScript worker did not poll {queue} within {START_TIMEOUT_S:.0f} s:\n"
                f"{agent.output()}"
            )
        await asyncio.sleep(0.05)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (the SDK shuts the worker down gracefully), then SIGKILL after a deadline."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)


@contextlib.asynccontextmanager
async def typescript_agent(
    node: str, client: Client, queue: str, workdir: Path
) -> AsyncIterator[TypeScriptAgent]:
    """Run ``node lib/worker.js <queue>`` until the block ends; yield once it polls.

    Its output is appended to ``workdir/worker.log``, and its journal is
    ``workdir/journal.jsonl``: a second agent on the same ``workdir`` replays the first's.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("ORCH_")}
    env.update(
        ORCH_TEMPORAL_ADDRESS=client.service_client.config.target_host,
        ORCH_TEMPORAL_NAMESPACE=client.namespace,
        STOCK_JOURNAL=str(workdir / "journal.jsonl"),
    )
    log = workdir / "worker.log"
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            node, str(WORKER_JS), queue,
            cwd=EXAMPLE, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True,
        )  # fmt: skip
    agent = TypeScriptAgent(process, log, workdir / "journal.jsonl")
    try:
        await _wait_until_polling(client, queue, agent)
        yield agent
    finally:
        await _stop(process)


# -- The Python agent of the second step, and the saga -------------------------------------


def carrier(agent_id: str) -> Agent:
    """Ships what the TypeScript agent reserved, or fails for good when there is no truck."""
    agent = Agent(AgentDescriptor(agent_id=agent_id, agent_type="Carrier"))

    @agent.action("ship")
    async def ship(data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        if data["trucks"] == 0:
            raise AgentError("no truck available", agent_id=ctx.agent_id, retriable=False)
        reservation = ctx.context["dependencies"]["reserve"]
        return {"shipped": reservation["quantity"], "reservation_id": reservation["reservation_id"]}

    return agent


def order(unique: str, queue: str) -> SagaTransaction:
    return SagaTransaction(
        name="order",
        transaction_id=f"ts-order-{unique}",
        steps=[
            SagaStep(
                "reserve",
                "stock-ts",
                "reserve_stock",
                compensation="release_stock",
                endpoint=f"temporal://{queue}",
                timeout_ms=30_000,
            ),
            SagaStep("ship", f"carrier-{unique}", "ship", depends_on=["reserve"]),
        ],
    )


@contextlib.asynccontextmanager
async def running_saga(
    node: str, client: Client, unique: str, workdir: Path
) -> AsyncIterator[tuple[SagaOrchestrator, TypeScriptAgent]]:
    """The TypeScript agent, the carrier and the orchestration worker, all polling."""
    settings = Settings(task_queue=f"orch-{unique}")
    async with (
        typescript_agent(node, client, f"stock-ts-{unique}", workdir) as agent,
        carrier(f"carrier-{unique}").worker(client, graceful_shutdown_timeout=timedelta(0)),
        build_worker(client, settings),
    ):
        yield SagaOrchestrator(client=client, settings=settings), agent
    assert agent.process.returncode == 0, f"the worker did not stop cleanly:\n{agent.output()}"
    assert agent.output().rstrip().endswith("worker stopped")


# -- The tests ------------------------------------------------------------------------------


async def test_a_failed_shipment_compensates_the_typescript_reservation(
    node: str, temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    saga = order(unique, f"stock-ts-{unique}")
    initial = {"sku": "steel-coil", "quantity": 40, "trucks": 0}
    async with running_saga(node, temporal_client, unique, tmp_path) as (orchestrator, agent):
        with pytest.raises(SagaError) as failed:
            async with asyncio.timeout(SAGA_TIMEOUT_S):
                await orchestrator.execute(saga, initial)

    execution = failed.value.execution
    assert execution.state == "COMPENSATED", agent.output()
    assert execution.failed_step == "ship"
    assert execution.compensated_steps == ["reserve"]

    [reserved] = agent.calls("reserve_stock")
    assert reserved["idempotency_key"] == f"{saga.transaction_id}/reserve"
    assert reserved["caller"] == saga.transaction_id
    assert reserved["applied"] is True
    assert reserved["request"]["data"] == initial
    reservation = reserved["result"]
    assert reservation == {
        "reservation_id": reservation["reservation_id"],
        "sku": "steel-coil",
        "quantity": 40,
        "available": STOCK - 40,
    }
    assert execution.outputs["reserve"] == reservation

    [released] = agent.calls("release_stock")
    assert released["idempotency_key"] == f"{saga.transaction_id}/reserve/compensate"
    assert released["applied"] is True
    assert released["request"]["context"]["output"] == reservation
    assert released["result"] == {
        "released": True,
        "reservation_id": reservation["reservation_id"],
        "sku": "steel-coil",
        "quantity": 40,
        "available": STOCK,
    }
    assert len(agent.logged("reserve_stock")) == 1, agent.output()
    assert len(agent.logged("release_stock")) == 1, agent.output()


async def test_a_shipped_order_returns_both_outputs_and_releases_nothing(
    node: str, temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    saga = order(unique, f"stock-ts-{unique}")
    initial = {"sku": "steel-coil", "quantity": 25, "trucks": 1}
    async with running_saga(node, temporal_client, unique, tmp_path) as (orchestrator, agent):
        async with asyncio.timeout(SAGA_TIMEOUT_S):
            outputs = await orchestrator.execute(saga, initial)

    [reserved] = agent.calls("reserve_stock")
    reservation = reserved["result"]
    assert reservation["reservation_id"].startswith("res-")
    assert outputs == {
        "reserve": reservation,
        "ship": {"shipped": 25, "reservation_id": reservation["reservation_id"]},
    }
    assert reservation["available"] == STOCK - 25
    assert agent.calls("release_stock") == []
    assert agent.logged("release_stock") == []


async def test_a_repeated_key_is_applied_once_even_after_a_restart(
    node: str, temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    settings = Settings(task_queue=f"orch-{unique}")
    queue = f"stock-ts-{unique}"
    runs = iter(range(1, 100))

    async def reserve(key: str) -> Any:
        task = AgentTaskInput(
            agent_id="stock-ts",
            endpoint=f"temporal://{queue}",
            action="reserve_stock",
            data={"sku": "steel-coil", "quantity": 40},
            idempotency_key=key,
        )
        async with asyncio.timeout(SAGA_TIMEOUT_S):
            result = await temporal_client.execute_workflow(
                AgentTaskWorkflow.run,
                task,
                id=f"ts-task-{unique}-{next(runs)}",
                task_queue=settings.task_queue,
            )
        return result.output

    key, other_key = f"order-{unique}/reserve", f"order-{unique}-2/reserve"
    async with build_worker(temporal_client, settings):
        async with typescript_agent(node, temporal_client, queue, tmp_path):
            reservation = await reserve(key)
            assert await reserve(key) == reservation
        # A new process on the same journal: it replays the reservation before polling.
        async with typescript_agent(node, temporal_client, queue, tmp_path) as restarted:
            assert await reserve(key) == reservation
            other = await reserve(other_key)

    assert reservation["available"] == STOCK - 40
    assert other["available"] == STOCK - 80  # the replayed reservation still holds its stock
    calls = [(c["idempotency_key"], c["applied"]) for c in restarted.calls("reserve_stock")]
    assert calls == [(key, True), (key, False), (key, False), (other_key, True)]
    assert "replayed 1 effect from " in restarted.output()


async def test_a_non_retryable_typescript_failure_fails_the_step_at_once(
    node: str, temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    saga = order(unique, f"stock-ts-{unique}")
    initial = {"sku": "steel-coil", "quantity": STOCK + 1, "trucks": 1}
    async with running_saga(node, temporal_client, unique, tmp_path) as (orchestrator, agent):
        with pytest.raises(SagaError) as failed:
            async with asyncio.timeout(SAGA_TIMEOUT_S):
                await orchestrator.execute(saga, initial)

    execution = failed.value.execution
    assert execution.state == "COMPENSATED"  # nothing had completed: nothing to undo
    assert execution.compensated_steps == []
    assert execution.failed_step == "reserve"
    assert execution.steps["reserve"].error == (
        f"InsufficientStock: {STOCK + 1} x steel-coil asked, {STOCK} available (non-retryable)"
    )
    assert execution.steps["ship"].state == "NOT_RUN"
    assert agent.calls("reserve_stock") == []  # nothing applied, nothing journaled
    [line] = agent.logged("reserve_stock")
    assert line.endswith(
        f"attempt=1: failed: InsufficientStock: {STOCK + 1} x steel-coil asked, {STOCK} available"
    )
