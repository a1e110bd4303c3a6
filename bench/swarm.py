"""Swarm benchmark: the supplier-emissions example end to end, and every behaviour's makespan.

Run: ``.venv/bin/python bench/swarm.py [--partitions 1000] [--suppliers 100] [--agents 100]
[--processes 4] [--repeats 3] [--json]``.

Setup: an ``EmbeddedStack`` on free ports in a temporary state directory (Temporal dev server
on SQLite, Tansu, the registry schema and the orchestration worker process, which runs
``SwarmWorkflow``), plus ``--processes`` agent processes (``python -m examples.swarm.agents``)
running ``--agents`` agents between them, each a Temporal worker on its own task queue.

Measured (median of R repeats, min-max):

- ``example_duration`` (target <= 5,000 ms) and ``example_evaluations`` (target >= 20,000
  items/s): "Calculate 100k supplier emissions": ``--partitions`` partitions of
  ``--suppliers`` suppliers (the partitions listed by a source action, keyed by region),
  ``--agents`` agents, FORAGING; duration is the workflow's own ``duration_ms`` (first round to
  result), evaluations/s its items / duration. Every run's total is checked against the
  sequential calculation to the cent (the benchmark fails otherwise). Baseline: that
  sequential calculation in this process, timed in the same run (what one process does
  without any distribution: the ratio shows what durability and distribution cost).
- ``makespan_<behaviour>`` (target: at most 1.1 x the round-robin makespan, i.e. no worse than
  the plain fan-out beyond noise): 200 partitions x 20 suppliers on 10 of the agents, each
  partition taking 20 ms of simulated I/O, one agent slowed 5x and one failing every
  partition (``params.slow`` / ``params.failing``, see ``examples/swarm/agents.py``),
  ``max_batch`` 2. Baseline: the ROUND_ROBIN behaviour, same job, same run (behaviours
  alternate with it). Every run's total is checked too.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from bench.report import AT_LEAST, AT_MOST, Row, Target, exit_status, print_report
from bench.stack import embedded_stack
from examples.swarm.suppliers import sequential_total
from orchestration.clients.swarm import SwarmOrchestrator
from orchestration.core.settings import Settings, SwarmConfig
from orchestration.core.temporal_client import connect
from orchestration.stack.commands import worker_env
from swarm.scheduling import SwarmBehavior
from workflows.swarm_models import SourceRef, SwarmTask

log = logging.getLogger("bench.swarm")

FAULT_AGENTS = 10
FAULT_PARTITIONS = 200
FAULT_SUPPLIERS = 20
FAULT_DELAY_MS = 20


@contextlib.asynccontextmanager
async def agent_processes(
    settings: Settings, agents: int, processes: int, log_dir: Path
) -> AsyncIterator[None]:
    """``agents`` example agents spread over ``processes`` processes, until the block ends."""
    started: list[asyncio.subprocess.Process] = []
    per = -(-agents // processes)
    try:
        for first in range(0, agents, per):
            count = min(per, agents - first)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "examples.swarm.agents",
                "--first", str(first), "--count", str(count),
                env=worker_env(settings),
                stdout=asyncio.subprocess.PIPE,
                stderr=(log_dir / f"agents-{first}.log").open("ab"),
            )  # fmt: skip
            started.append(process)
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            if not line.startswith(b"ready"):
                raise RuntimeError(f"agent process {first} did not start: see {log_dir}")
        yield
    finally:
        for process in started:
            if process.returncode is None:
                process.terminate()
        for process in started:
            await process.wait()


def example_task(partitions: int, suppliers: int, agents: int) -> SwarmTask:
    return SwarmTask(
        objective="Calculate 100k supplier emissions",
        data_partitions=partitions,
        agents_required=agents,
        agents=[f"emissions-{n:03d}" for n in range(agents)],
        behavior=SwarmBehavior.FORAGING,
        action="calculate_emissions",
        source=SourceRef(
            agent_id="emissions-000",
            action="list_partitions",
            params={"partitions": partitions, "suppliers_per_partition": suppliers},
        ),
        params={"suppliers_per_partition": suppliers},
        timeout_ms=120_000,
    )


def fault_task(behavior: SwarmBehavior) -> SwarmTask:
    agents = [f"emissions-{n:03d}" for n in range(FAULT_AGENTS)]
    return SwarmTask(
        objective=f"makespan with faults ({behavior.value})",
        data_partitions=FAULT_PARTITIONS,
        agents_required=FAULT_AGENTS,
        agents=agents,
        behavior=behavior,
        action="calculate_emissions",
        items_per_partition=FAULT_SUPPLIERS,
        params={
            "suppliers_per_partition": FAULT_SUPPLIERS,
            "delay_ms": FAULT_DELAY_MS,
            "slow": {agents[3]: 5},
            "failing": [agents[0]],
        },
        max_batch=2,
        timeout_ms=120_000,
    )


def check_total(result: dict[str, Any], expected: Decimal, what: str) -> None:
    if Decimal(str(result["result"])) != expected:
        raise RuntimeError(f"{what}: total {result['result']} differs from {expected}")


async def measure(args: argparse.Namespace) -> list[Row]:
    async with embedded_stack("swarm") as stack:
        settings = stack.settings
        async with agent_processes(settings, args.agents, args.processes, stack.log_dir):
            client = await connect(settings)
            swarm = SwarmOrchestrator(
                client=client, settings=settings, config=SwarmConfig(min_agents=1)
            )
            expected = sequential_total(args.partitions, args.suppliers)
            await swarm.deploy(example_task(20, 10, min(10, args.agents)))  # warm-up
            durations, rates, sequential = [], [], []
            for repeat in range(args.repeats):
                result = await swarm.deploy(
                    example_task(args.partitions, args.suppliers, args.agents)
                )
                check_total(result, expected, "example")
                durations.append(result["duration_ms"])
                rates.append(result["evaluations_per_s"])
                started = time.perf_counter()
                sequential_total(args.partitions, args.suppliers)
                sequential.append(time.perf_counter() - started)
                log.info(
                    "repeat %d example: %.0f ms, %.0f evaluations/s, efficiency %.2f, "
                    "%d iterations (sequential %.0f ms)",
                    repeat + 1, result["duration_ms"], result["evaluations_per_s"],
                    result["efficiency"], result["iterations"], sequential[-1] * 1000,
                )  # fmt: skip
            items = args.partitions * args.suppliers
            seq_s = statistics.median(sequential)
            rows = [
                Row.from_samples(
                    "swarm", "example_duration", "ms", durations,
                    target=Target(5_000, AT_MOST), baseline=seq_s * 1000,
                ),
                Row.from_samples(
                    "swarm", "example_evaluations", "items/s", rates,
                    target=Target(20_000, AT_LEAST), baseline=items / seq_s,
                ),
            ]  # fmt: skip
            rows += await _makespans(swarm, args.repeats)
            return rows


async def _makespans(swarm: SwarmOrchestrator, repeats: int) -> list[Row]:
    expected = sequential_total(FAULT_PARTITIONS, FAULT_SUPPLIERS)
    spans: dict[SwarmBehavior, list[float]] = {b: [] for b in SwarmBehavior}
    behaviours = [b for b in SwarmBehavior if b is not SwarmBehavior.ROUND_ROBIN]
    for repeat in range(repeats):
        for behavior in behaviours:
            # Alternate with the baseline so drift of the shared machine hits both.
            order = [behavior, SwarmBehavior.ROUND_ROBIN]
            for kind in order if repeat % 2 == 0 else reversed(order):
                result = await swarm.deploy(fault_task(kind))
                check_total(result, expected, kind.value)
                spans[kind].append(result["duration_ms"])
        log.info(
            "repeat %d makespans (ms): %s", repeat + 1,
            ", ".join(f"{b.value} {spans[b][-1]:.0f}" for b in SwarmBehavior),
        )  # fmt: skip
    baseline = statistics.median(spans[SwarmBehavior.ROUND_ROBIN])
    return [
        Row.from_samples(
            "swarm", f"makespan_{b.value}", "ms", spans[b],
            target=Target(round(1.1 * baseline), AT_MOST), baseline=baseline,
        )
        for b in behaviours
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--suppliers", type=int, default=100)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    if min(args.partitions, args.suppliers, args.processes, args.repeats) < 1:
        parser.error("sizes must be at least 1")
    if args.agents < FAULT_AGENTS:
        parser.error(f"--agents must be at least {FAULT_AGENTS} (the makespan job uses them)")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    rows = asyncio.run(measure(args))
    print_report(rows, as_json=args.json, title="swarm benchmark (embedded stack)")
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
