"""``python examples/usage.py``: the quick reference's examples as users run them.

One subprocess runs ``--example all`` against the session's Temporal server and Kafka broker
(it reuses a running stack, as it does with ``orchestration up``); this process runs the
orchestration worker that stack would have. The tests then read what it printed.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from examples.swarm.suppliers import sequential_total
from orchestration import Settings
from orchestration.core.connections import KafkaConfig
from registry.local_registry import LocalAgentRegistry
from workers.orchestration_worker import build_worker

pytestmark = pytest.mark.slow

USAGE = Path(__file__).parents[2] / "examples" / "usage.py"
RUN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def section(self, example: str) -> list[str]:
        """The non-blank lines printed under ``== example ==``."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        start = lines.index(f"== {example} ==") + 1
        end = next((n for n in range(start, len(lines)) if lines[n].startswith("== ")), None)
        return lines[start:end]


def stack_env(env: WorkflowEnvironment, kafka: str, task_queue: str, state: Path) -> dict[str, str]:
    """The environment of a user whose stack runs at the session's servers."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    variables.update(
        ORCH_TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
        ORCH_TEMPORAL_NAMESPACE=env.client.namespace,
        ORCH_KAFKA_BOOTSTRAP_SERVERS=kafka,
        ORCH_TASK_QUEUE=task_queue,
        ORCH_STATE_DIR=str(state),
    )
    return variables


async def run_usage(*args: str, env: dict[str, str], cwd: Path) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(USAGE),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def all_examples(
    temporal_dev_env: WorkflowEnvironment,
    kafka_bootstrap_servers: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    workdir = tmp_path_factory.mktemp("usage")
    settings = Settings(
        task_queue=f"usage-{uuid.uuid4().hex[:12]}",
        kafka=KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers]),  # agents on the bus
    )
    env = stack_env(temporal_dev_env, kafka_bootstrap_servers, settings.task_queue, workdir)
    # The worker routes calls by capability with the registry the examples register in.
    # No background sync: every route reads the database, so the loads the example wrote
    # (and flushed) are what LEAST_LOADED sees, however loaded the machine is.
    registry = LocalAgentRegistry(
        f"sqlite+aiosqlite:///{workdir / 'registry.db'}", background=False
    )
    await registry.initialize()
    try:
        async with build_worker(temporal_dev_env.client, settings, registry=registry):
            return await run_usage("--example", "all", env=env, cwd=workdir)
    finally:
        await registry.close()


def test_every_example_runs_against_the_running_stack_and_exits_0(all_examples: Run) -> None:
    assert all_examples.returncode == 0, all_examples.stderr
    assert all_examples.stderr == ""
    assert all_examples.stdout.startswith("Using the stack already running at ")
    headers = [line for line in all_examples.stdout.splitlines() if line.startswith("== ")]
    assert headers == [f"== {n} ==" for n in ("swarm", "routing", "saga", "registry", "integrated")]


def test_the_swarm_converges_on_the_sequential_total(all_examples: Run) -> None:
    lines = all_examples.section("swarm")
    assert lines[0] == (
        'SwarmTask(objective="Calculate 100k supplier emissions", data_partitions=1000, '
        "agents_required=10, behavior=FORAGING, convergence_threshold=0.95)"
    )
    assert lines[1] == "Convergence: 100.00%"
    assert re.fullmatch(r"Iterations: [1-9]\d*", lines[2])
    assert re.fullmatch(r"Duration: \d+ms", lines[3])
    assert re.fullmatch(r"Efficiency: \d+\.\d\d%", lines[4])
    total = sequential_total(1000)
    assert lines[5] == (
        f"Total: {total} kg CO2e for 100,000 suppliers (sequential calculation: {total}, equal)"
    )


def test_routing_picks_a_less_loaded_agent_and_averages_three_replies(all_examples: Run) -> None:
    lines = all_examples.section("routing")
    [targets] = [line for line in lines if line.startswith("Targets: ")]
    # LEAST_LOADED takes the less loaded of two sampled agents: never agent-2 (80/100).
    assert targets in ("Targets: ['agent-1']", "Targets: ['agent-3']")
    [tally] = [line for line in lines if line.startswith("1,000 routes: ")]
    assert ", agent-2 x0, " in tally
    assert "  agent-1: 279.6 kg CO2e" in lines  # 1,200 kWh x 0.233
    assert "  agent-2: 248.4 kg CO2e" in lines
    assert "  agent-3: 254.4 kg CO2e" in lines
    assert re.fullmatch(
        r"Aggregated \(AVERAGE of 3 responses, \d+ ms\): 260\.800 kg CO2e", lines[-1]
    )


def test_the_saga_completes_then_a_failed_one_is_compensated(all_examples: Run) -> None:
    lines = all_examples.section("saga")
    assert lines[1:4] == [
        "Status: COMPLETED",
        "Steps: collect_data -> validate -> generate_report -> publish",
        "Emissions: scope 1 29565.690 kg, scope 2 116570.000 kg",  # four facilities
    ]
    assert "step 'validate' failed" in lines[4]
    assert lines[5:] == ["Status: COMPENSATED", "Compensated: 1 steps (collect_data)"]


def test_the_registry_discovers_the_registered_agent_and_reports_its_health(
    all_examples: Run,
) -> None:
    lines = all_examples.section("registry")
    assert lines[0] == "Discovered: ['agent-calculator-001']"
    health = re.fullmatch(r"Health: (\d+\.\d\d)%", lines[1])
    assert health is not None and float(health.group(1)) >= 80  # min_health_score=0.8
    assert lines[2] == "Status: active"


def test_the_integrated_flow_routes_a_request_then_runs_a_saga_and_a_swarm(
    all_examples: Run,
) -> None:
    lines = all_examples.section("integrated")
    assert lines[0] == "Discovered: calc-1, calc-2, calc-3 (capability calculation)"
    # calc-3 is the most loaded (cpu 0.6): LEAST_LOADED never picks it.
    routed = re.fullmatch(
        r"Routed to: (calc-[12]) \(LEAST_LOADED, workflow calculate-\w+\)", lines[1]
    )
    assert routed is not None, lines[1]
    value = {"calc-1": "279.6", "calc-2": "248.4"}[routed.group(1)]  # 1,200 kWh x its factor
    assert lines[2] == f"Response from {routed.group(1)}: 1200 kWh -> {value} kg CO2e"
    assert re.fullmatch(
        r"Aggregated \(AVERAGE of 3 responses, pipeline pipeline-\w+\): 260\.800 kg CO2e",
        lines[3],
    ), lines[3]
    assert re.fullmatch(r"Saga csrd-gamma-\w+: COMPLETED; .*", lines[4])
    assert re.fullmatch(
        r"Swarm swarm-\w+: 10 agents with capability supplier_emissions; "
        r"Convergence: 100\.00%",
        lines[5],
    )
    total = sequential_total(200)
    assert lines[6] == (
        f"Total: {total} kg CO2e for 20,000 suppliers (sequential calculation: {total}, equal)"
    )


async def test_an_unknown_example_is_a_usage_error(tmp_path: Path) -> None:
    run = await run_usage("--example", "nope", env=dict(os.environ), cwd=tmp_path)
    assert run.returncode == 2
    assert "invalid choice: 'nope'" in run.stderr
    assert run.stdout == ""


async def test_a_failing_example_exits_1_with_one_line(
    temporal_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    env = stack_env(temporal_dev_env, closed, "unused", tmp_path)
    run = await run_usage("--example", "registry", env=env, cwd=tmp_path)
    assert run.returncode == 1
    [line] = run.stderr.splitlines()
    assert line.startswith(f"error: registry: cannot connect to Kafka at {closed}: ")
