"""Scatter-gather benchmark: ``ScatterGather(router).execute`` over Kafka.

Run: ``.venv/bin/python bench/scatter.py [--agents 3] [--requests 200] [--repeats 3] [--json]``.

Setup: the embedded Tansu broker on a free port; ``--agents`` agents answering requests with
``MessageBus.serve`` (an emissions figure each) from a second bus in this process, and a
``MessageRouter`` on the caller's bus.

Measured (median of R repeats, min-max):

- ``scatter_gather_p50`` (our target <= 25 ms; the quick reference only asks for it to be
  reported): ``--requests`` sequential ``execute`` calls to every agent with AVERAGE
  aggregation; a call's time is its ``duration_ms`` (first request sent to last reply in,
  the figure ``scatter_gather_duration_ms`` records). Baseline: a plain fan-out in the same
  run: the same request sent to each agent, in round-robin order, with
  ``MessageBus.request_response`` and gathered, timed the same way (no aggregation, no
  router bookkeeping).
- ``scatter_gather_p99``, the same calls' 99th percentile (our target <= 100 ms).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

from bench.bus import percentile, tansu_broker
from bench.report import AT_MOST, Row, Target, exit_status, print_report
from bus.message import Message, MessageType
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig
from registry.routing.aggregation import AggregationStrategy
from registry.routing.router import MessageRouter
from registry.routing.scatter_gather import ScatterGather

log = logging.getLogger("bench.scatter")


def request(seq: int) -> Message:
    return Message(
        sender_id="bench-scatter",
        message_type=MessageType.REQUEST,
        payload={"task": "calculate", "kwh": 1000 + seq},
    )


async def answer(message: Message) -> dict[str, Any]:
    return {"value": round(float(message.payload["kwh"]) * 0.233, 3)}


async def measure(servers: str, args: argparse.Namespace) -> list[Row]:
    config = KafkaConfig(bootstrap_servers=[servers])
    agents = [f"bench-calc-{n}" for n in range(args.agents)]
    async with MessageBus(config) as responders, MessageBus(config) as caller:
        for agent in agents:
            await responders.serve(agent, answer)
        scatter = ScatterGather(MessageRouter(caller))
        await scatter.execute(request(0), agents, AggregationStrategy.AVERAGE)  # warm

        async def fan_out(seq: int) -> float:
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    caller.request_response(
                        request(seq).model_copy(update={"recipient_id": agent}), timeout_ms=5000
                    )
                    for agent in agents[seq % len(agents) :] + agents[: seq % len(agents)]
                )
            )
            return (time.perf_counter() - started) * 1000

        p50s, p99s, base_p50s = [], [], []
        for repeat in range(args.repeats):
            durations, baseline = [], []
            for seq in range(args.requests):
                result = await scatter.execute(
                    request(seq), agents, AggregationStrategy.AVERAGE, min_responses=len(agents)
                )
                durations.append(result.duration_ms)
                baseline.append(await fan_out(seq))
            p50s.append(statistics.median(durations))
            p99s.append(percentile(durations, 0.99))
            base_p50s.append(statistics.median(baseline))
            log.info(
                "repeat %d: scatter p50 %.2f ms, fan-out p50 %.2f ms",
                repeat + 1, p50s[-1], base_p50s[-1],
            )  # fmt: skip
    baseline_p50 = statistics.median(base_p50s)
    return [
        Row.from_samples(
            "routing", "scatter_gather_p50", "ms", p50s,
            target=Target(25, AT_MOST), baseline=baseline_p50,
        ),
        Row.from_samples("routing", "scatter_gather_p99", "ms", p99s, target=Target(100, AT_MOST)),
    ]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=3, help="agents answering (N)")
    parser.add_argument("--requests", type=int, default=200, help="calls per repeat (Q)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (R)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    if min(args.agents, args.requests, args.repeats) < 1:
        parser.error("--agents, --requests and --repeats must be at least 1")
    return args


async def run(args: argparse.Namespace) -> list[Row]:
    async with tansu_broker() as (servers, _pid):
        return await measure(servers, args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    rows = asyncio.run(run(args))
    print_report(rows, as_json=args.json, title="scatter-gather benchmark")
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
