"""The quick reference's examples, run for real: ``python examples/usage.py --example NAME``.

- ``swarm``: 100,000 suppliers' emissions (1,000 partitions) over ten example agents,
  checked against the sequential calculation;
- ``routing``: a LEAST_LOADED route rule over three agents, then a scatter-gather whose
  three agents answer over Kafka, averaged;
- ``saga``: the CSRD report saga to completion, then with an invalid record, compensated;
- ``registry``: register, heartbeat, discover and read an agent;
- ``integrated``: the quick reference's patterns as durable workflows: discover -> route ->
  request as an ``AgentTaskWorkflow`` by capability over three agents answering on the bus,
  scatter-gather consensus as a pipeline (a PARALLEL stage and the ``aggregate`` transform),
  then a saga, then a swarm whose agents are discovered by capability;
- ``all`` (the default): each of the above in turn.

Uses a stack that is already running (``orchestration up``) when Temporal answers at
``ORCH_TEMPORAL_ADDRESS``; otherwise starts the embedded one and stops it at the end. The
example agents run in this process. Exit code 0 on success, 1 when an example fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from temporalio.client import Client

from activities.kafka_agent import run_on_bus
from examples.csrd.agents import ALL_AGENTS as CSRD_AGENTS
from examples.csrd.saga import csrd_transaction
from examples.stack import console, running_stack
from examples.swarm.agents import CAPABILITY as SUPPLIER_EMISSIONS
from examples.swarm.agents import make_agents
from examples.swarm.suppliers import SUPPLIERS_PER_PARTITION, sequential_total
from orchestration import (
    ActionContext,
    Agent,
    AgentDescriptor,
    AgentRegistry,
    AggregationStrategy,
    ExecutionMode,
    LoadInfo,
    Message,
    MessageBus,
    MessageRouter,
    MessageType,
    Pipeline,
    PipelineConfig,
    PipelineStage,
    Priority,
    RouteRule,
    RoutingStrategy,
    SagaOrchestrator,
    ScatterGather,
    ServiceType,
    SwarmBehavior,
    SwarmOrchestrator,
    SwarmTask,
    get_settings,
)
from orchestration.core.lifecycle import exit_process
from orchestration.exceptions import OrchestrationError, SagaError
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput
from workflows.pipeline_models import AgentRef, TransformRef

EXAMPLE_TIMEOUT_S = 300
"""An example that has not finished by then fails (e.g. no orchestration worker polls)."""

GRID_FACTORS = {"agent-1": 0.233, "agent-2": 0.207, "agent-3": 0.212}
"""kg CO2e per kWh: each calculator agent's own estimate of the grid's factor."""

errors = Console(stderr=True, highlight=False, soft_wrap=True)


class ExampleFailed(OrchestrationError):
    """An example's result disagrees with what it is checked against."""


@contextlib.asynccontextmanager
async def agents_running(client: Client, agents: Iterable[Agent]) -> AsyncIterator[None]:
    """The example agents as Temporal workers in this process (each could be its own)."""
    async with contextlib.AsyncExitStack() as workers:
        for agent in agents:
            await workers.enter_async_context(agent.worker(client))
        yield


def calculator(factor: float) -> Callable[[Message], Awaitable[dict[str, Any]]]:
    """A calculator agent's request handler: the request's kWh times its grid factor."""

    async def calculate(request: Message) -> dict[str, Any]:
        kwh = float(request.payload["data"]["kwh"])
        return {"value": round(kwh * factor, 3), "factor": factor, "unit": "kg CO2e"}

    return calculate


def report_load(router: MessageRouter, queued: dict[str, int]) -> None:
    for agent_id, size in queued.items():
        router.update_agent_load(
            agent_id,
            LoadInfo(
                agent_id=agent_id,
                message_queue_size=size,
                processing_time_ms=200,
                error_rate=0.02,
                capacity=100,
            ),
        )


def check_swarm_total(result: dict[str, Any], partitions: int) -> None:
    """The swarm's total must equal the sequential calculation, to the cent."""
    expected = sequential_total(partitions)
    total = Decimal(result["result"]) if result["result"] is not None else None
    print(
        f"Total: {result['result']} kg CO2e for {result['evaluations']:,} suppliers "
        f"(sequential calculation: {expected}, {'equal' if total == expected else 'DIFFERENT'})"
    )
    if total != expected:
        raise ExampleFailed(f"swarm total {result['result']} != sequential total {expected}")


# -- swarm ---------------------------------------------------------------------------------


async def swarm_example() -> None:
    bus = MessageBus()
    swarm = SwarmOrchestrator(bus)
    await bus.initialize()
    await swarm.initialize()
    agents = make_agents(0, 10, prefix="usage-emissions")
    task = SwarmTask(
        objective="Calculate 100k supplier emissions",
        data_partitions=1000,
        agents_required=len(agents),
        behavior=SwarmBehavior.FORAGING,
        convergence_threshold=0.95,
        timeout_ms=300000,
        # What the work is: one partition = 100 generated suppliers, and who does it.
        agents=[agent.agent_id for agent in agents],
        action="calculate_emissions",
        items_per_partition=SUPPLIERS_PER_PARTITION,
    )
    print(
        f'SwarmTask(objective="{task.objective}", data_partitions={task.data_partitions}, '
        f"agents_required={task.agents_required}, behavior={task.behavior.name}, "
        f"convergence_threshold={task.convergence_threshold})"
    )
    try:
        async with agents_running(swarm.client, agents):
            result = await swarm.deploy(task)
    finally:
        await bus.close()

    print(f"Convergence: {result['convergence']:.2%}")
    print(f"Iterations: {result['iterations']}")
    print(f"Duration: {result['duration_ms']:.0f}ms")
    print(f"Efficiency: {result['efficiency']:.2%}")
    check_swarm_total(result, task.data_partitions)


# -- routing -------------------------------------------------------------------------------


async def routing_example() -> None:
    bus = MessageBus()
    router = MessageRouter(bus)
    await bus.initialize()
    await router.initialize()
    agents_bus = MessageBus()  # the calculator agents' side of the conversation
    await agents_bus.initialize()
    try:
        rule = RouteRule(
            name="route_calculations",
            condition="payload.get('task') == 'calculate'",
            targets=["agent-1", "agent-2", "agent-3"],
            strategy=RoutingStrategy.LEAST_LOADED,
        )
        router.add_route_rule(rule)
        queued = {"agent-1": 25, "agent-2": 80, "agent-3": 5}
        report_load(router, queued)
        print("Loads: " + ", ".join(f"{a} {n}/100 queued" for a, n in queued.items()))

        message = Message(
            sender_id="agent-001",
            message_type=MessageType.REQUEST,
            priority=Priority.HIGH,
            payload={"task": "calculate", "data": {"kwh": 1200}},
        )
        targets = await router.route(message)
        print(f"Targets: {targets}")
        tally: Counter[str] = Counter()
        for _ in range(1000):
            tally.update(await router.route(message))
        print("1,000 routes: " + ", ".join(f"{a} x{tally[a]}" for a in rule.targets))

        await asyncio.gather(
            *(agents_bus.serve(a, calculator(factor)) for a, factor in GRID_FACTORS.items())
        )
        scatter = ScatterGather(router)
        result = await scatter.execute(
            request=message,
            target_agents=["agent-1", "agent-2", "agent-3"],
            aggregation_strategy=AggregationStrategy.AVERAGE,
            min_responses=3,
            timeout_ms=15_000,
        )
    finally:
        await agents_bus.close()
        await router.close()
        await bus.close()

    for agent_id in sorted(result.by_agent):
        print(f"  {agent_id}: {result.by_agent[agent_id]['value']} kg CO2e")
    print(
        f"Aggregated ({result.strategy.name} of {result.used} responses, "
        f"{result.duration_ms:.0f} ms): {result.value:.3f} kg CO2e"
    )
    mean = sum(p["value"] for p in result.by_agent.values()) / len(result.by_agent)
    if result.used != 3 or abs(result.value - mean) > 1e-9:
        raise ExampleFailed(f"scatter-gather average {result.value} != {mean} over 3 replies")


# -- saga ----------------------------------------------------------------------------------


async def saga_example() -> None:
    bus = MessageBus()
    saga = SagaOrchestrator(bus)
    await bus.initialize()
    await saga.initialize()
    suffix = uuid.uuid4().hex[:8]
    try:
        async with agents_running(saga.client, CSRD_AGENTS):
            transaction = csrd_transaction(f"csrd-acme-{suffix}")
            initial_data = {"company": "Acme Steel", "period": "2025", "facilities": 4}
            result = await saga.execute(transaction, initial_data)
            execution = await saga.get_execution_status(transaction.transaction_id)
            print(f"Saga {transaction.name} ({transaction.transaction_id})")
            print(f"Status: {execution.state}")
            print(f"Steps: {' -> '.join(result)}")
            emissions = result["generate_report"]["emissions_kg"]
            print(f"Emissions: scope 1 {emissions['scope1']} kg, scope 2 {emissions['scope2']} kg")

            transaction = csrd_transaction(f"csrd-beta-{suffix}")
            try:
                await saga.execute(
                    transaction,
                    # An invalid record: validation fails, so the collected data is deleted.
                    {"company": "Beta Cement", "period": "2025", "inject_invalid_record": True},
                )
            except SagaError as e:
                execution = await saga.get_execution_status(transaction.transaction_id)
                print(f"Saga {transaction.name} ({transaction.transaction_id}) failed: {e}")
                print(f"Status: {execution.state}")
                print(
                    f"Compensated: {len(execution.compensated_steps)} steps "
                    f"({', '.join(execution.compensated_steps)})"
                )
            else:
                raise ExampleFailed("the saga with an invalid record completed")
    finally:
        await bus.close()
    if execution.state != "COMPENSATED":
        raise ExampleFailed(f"the failed saga ended {execution.state}, not COMPENSATED")


# -- registry ------------------------------------------------------------------------------


async def registry_example() -> None:
    bus = MessageBus()
    registry = AgentRegistry(bus)
    await bus.initialize()
    await registry.initialize()
    try:
        descriptor = AgentDescriptor(
            agent_id="agent-calculator-001",
            agent_type="CarbonCalculatorAgent",
            version="2.1.0",
            capabilities=["carbon_calculation", "scope3_emissions"],
            service_types=[ServiceType.COMPUTATION],
            endpoint="tcp://10.0.1.50:5000",
            tags=["production", "us-east-1"],
        )
        await registry.register(descriptor)
        await registry.heartbeat(
            "agent-calculator-001", {"cpu_usage": 0.45, "error_rate": 0.01, "response_time_ms": 234}
        )
        agents = await registry.discover(
            capabilities=["carbon_calculation"],
            service_types=[ServiceType.COMPUTATION],
            min_health_score=0.8,
            location_preference="us-east-1",
            max_results=10,
        )
        print(f"Discovered: {[a.agent_id for a in agents]}")
        agent = await registry.get_agent("agent-calculator-001")
        print(f"Health: {agent.health_score:.2%}")
        print(f"Status: {agent.status}")
    finally:
        await registry.deregister("agent-calculator-001")  # leave a shared stack as it was
        await registry.close()
        await bus.close()
    if "agent-calculator-001" not in [a.agent_id for a in agents]:
        raise ExampleFailed("discovery did not find the agent just registered")


# -- integrated ----------------------------------------------------------------------------


def bus_calculator(agent_id: str, factor: float) -> Agent:
    """A calculator agent answering on the bus (``kafka://``): kWh times its grid factor."""
    agent = Agent(
        AgentDescriptor(
            agent_id=agent_id,
            agent_type="GridEmissionsCalculator",
            capabilities=["calculation"],
            service_types=[ServiceType.COMPUTATION],
            endpoint=f"kafka://{agent_id}",
        )
    )

    @agent.action("calculate")
    async def calculate(data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        return {"value": round(float(data["kwh"]) * factor, 3), "unit": "kg CO2e"}

    return agent


async def integrated_example() -> None:
    settings = get_settings()
    bus = MessageBus()
    registry = AgentRegistry(bus)
    saga = SagaOrchestrator(bus)
    swarm = SwarmOrchestrator(bus, registry=registry)  # finds its agents by capability
    await bus.initialize()
    await registry.initialize()
    await saga.initialize()
    await swarm.initialize()

    factors = dict(zip(("calc-1", "calc-2", "calc-3"), GRID_FACTORS.values(), strict=True))
    calculators = [bus_calculator(agent_id, factor) for agent_id, factor in factors.items()]
    swarm_agents = make_agents(0, 10, prefix="usage-suppliers")
    descriptors = [agent.descriptor for agent in (*calculators, *swarm_agents)]
    load = {"calc-1": 0.4, "calc-2": 0.1, "calc-3": 0.6}
    stop = asyncio.Event()
    serving = [
        asyncio.create_task(run_on_bus(c, settings, bus=bus, stop=stop, register=False))
        for c in calculators
    ]
    try:
        for descriptor in descriptors:
            await registry.register(descriptor)
            cpu = load.get(descriptor.agent_id, 0.3)
            await registry.heartbeat(descriptor.agent_id, {"cpu_usage": cpu, "error_rate": 0.0})
        await registry.flush()  # the worker's router reads these loads from the database

        # Pattern 1, durable: discover -> route -> request, one AgentTaskWorkflow.
        agents = await registry.discover(capabilities=["calculation"])
        print(f"Discovered: {', '.join(a.agent_id for a in agents)} (capability calculation)")
        task_id = f"calculate-{uuid.uuid4().hex[:8]}"
        task = await saga.client.execute_workflow(
            AgentTaskWorkflow.run,
            AgentTaskInput(
                capability="calculation",
                action="calculate",
                data={"kwh": 1200},
                strategy=RoutingStrategy.LEAST_LOADED,
                routing=settings.route,
            ),
            id=task_id,
            task_queue=settings.task_queue,
        )
        print(f"Routed to: {task.agent_id} (LEAST_LOADED, workflow {task_id})")
        print(f"Response from {task.agent_id}: 1200 kWh -> {task.output['value']} kg CO2e")

        # Pattern 2, durable: scatter to every agent found, aggregate the average.
        consensus = Pipeline(
            PipelineConfig(
                name="grid_factor_consensus",
                stages=[
                    PipelineStage(
                        name="estimate",
                        mode=ExecutionMode.PARALLEL,
                        agents=[
                            AgentRef(
                                agent_id=a.agent_id,
                                action="calculate",
                                endpoint=a.descriptor.endpoint,
                            )
                            for a in agents
                        ],
                        transform=TransformRef(
                            name="aggregate", params={"strategy": "average", "min_responses": 3}
                        ),
                    )
                ],
            ),
            client=saga.client,
        )
        execution = await consensus.execute({"kwh": 1200})
        output = execution.output
        print(
            f"Aggregated (AVERAGE of {output['used']} responses, pipeline "
            f"{execution.execution_id}): {Decimal(str(output['value'])):.3f} kg CO2e"
        )

        # Pattern 3: a multi-step workflow with rollback.
        async with agents_running(saga.client, [*CSRD_AGENTS, *swarm_agents]):
            transaction = csrd_transaction(f"csrd-gamma-{uuid.uuid4().hex[:8]}")
            result = await saga.execute(transaction, {"company": "Gamma Metals", "period": "2025"})
            execution_status = await saga.get_execution_status(transaction.transaction_id)
            emissions = result["generate_report"]["emissions_kg"]
            print(
                f"Saga {transaction.transaction_id}: {execution_status.state}; scope 1 "
                f"{emissions['scope1']} kg, scope 2 {emissions['scope2']} kg"
            )

            # Pattern 4: a distributed processing swarm, its agents found in the registry.
            swarm_task = SwarmTask(
                objective="Process large dataset",
                data_partitions=200,
                agents_required=10,
                behavior=SwarmBehavior.FORAGING,
                capabilities=[SUPPLIER_EMISSIONS],
                action="calculate_emissions",
                items_per_partition=SUPPLIERS_PER_PARTITION,
            )
            result = await swarm.deploy(swarm_task)
        print(
            f"Swarm {swarm_task.swarm_id}: {len(result['agents'])} agents with capability "
            f"{SUPPLIER_EMISSIONS}; Convergence: {result['convergence']:.2%}"
        )
        check_swarm_total(result, swarm_task.data_partitions)
    finally:
        stop.set()
        await asyncio.gather(*serving, return_exceptions=True)
        for descriptor in descriptors:
            await registry.deregister(descriptor.agent_id)
        await registry.close()
        await bus.close()


EXAMPLES: dict[str, Callable[[], Awaitable[None]]] = {
    "swarm": swarm_example,
    "routing": routing_example,
    "saga": saga_example,
    "registry": registry_example,
    "integrated": integrated_example,
}


async def run(chosen: list[str]) -> None:
    # The saga example fails validation on purpose; the SDK would log that expected failure.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    # The bus raises an error naming the broker when it cannot connect: one line is enough.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    async with running_stack(get_settings()):
        for name in chosen:
            console.print(f"\n[bold]== {name} ==[/]")
            try:
                async with asyncio.timeout(EXAMPLE_TIMEOUT_S):
                    await EXAMPLES[name]()
            except OrchestrationError as exc:  # the library's timeouts included
                raise ExampleFailed(f"{name}: {exc}") from exc
            except TimeoutError as exc:
                raise ExampleFailed(
                    f"{name}: no result within {EXAMPLE_TIMEOUT_S} s; is the orchestration "
                    "worker running?"
                ) from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--example", choices=[*EXAMPLES, "all"], default="all")
    args = parser.parse_args(argv)
    chosen = list(EXAMPLES) if args.example == "all" else [args.example]
    try:
        asyncio.run(run(chosen))
    except OrchestrationError as exc:
        errors.print(f"[bold red]error:[/] {' '.join(str(exc).split())}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    exit_process(main())
