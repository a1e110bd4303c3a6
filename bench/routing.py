"""Routing benchmark: in-process decisions per second and per-decision latency, 10k agents.

Run: ``.venv/bin/python bench/routing.py [--agents 10000] [--decisions 50000] [--repeats 3]
[--json]``.

Setup: a real ``LocalAgentRegistry`` on a fresh SQLite file with N registered agents, and a
``MessageRouter`` reading its health snapshot, with 20 rules whose conditions select on the
payload's task (the quick reference's ``payload.get('task') == ...`` form), 500 targets each,
plus one catch-all rule. Every agent reports a ``LoadInfo``; 1 decision in 100 is preceded by
a fresh load report, so candidate caches are invalidated as they would be in service.

Messages come from 1,000 senders (the key CONSISTENT_HASH and AFFINITY hash); one more row
routes CONSISTENT_HASH messages that all come from different senders, the worst case for its
per-ring memo of key owners. Measured per strategy (decisions/s over D decisions, median of R
repeats) and for the mixed
workload the p50 and p99 of single-decision latency (``perf_counter_ns`` around each call).
Same-run baseline: the cheapest possible router — a dict from task to a cycling iterator of
its targets — over the same messages, so the ratio shows what rules, conditions, health,
loads and strategies cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ comes first on sys.path and bench/registry.py would hide the registry
# package: put the repository root in its place.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.report import AT_LEAST, AT_MOST, Row, Target, exit_status, print_report
from bus.message import Message, MessageType, Priority
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor
from registry.routing import LoadInfo, RoutingStrategy
from registry.routing.router import MessageRouter
from registry.routing.rules import RouteRule

TASKS = [f"task_{n:02d}" for n in range(20)]
TARGETS_PER_RULE = 500


async def build_registry(path: Path, agents: int) -> LocalAgentRegistry:
    registry = LocalAgentRegistry(f"sqlite+aiosqlite:///{path}", background=False)
    await registry.initialize()
    ids = [f"agent-{n:05d}" for n in range(agents)]
    for chunk in range(0, agents, 500):
        await asyncio.gather(
            *(
                registry.register(AgentDescriptor(agent_id=i, agent_type="Calc"))
                for i in ids[chunk : chunk + 500]
            )
        )
    return registry


def build_router(registry: LocalAgentRegistry, agents: int, rng: random.Random) -> MessageRouter:
    router = MessageRouter(None, registry=registry, rng=rng)
    ids = [f"agent-{n:05d}" for n in range(agents)]
    for n, task in enumerate(TASKS):
        start = (n * TARGETS_PER_RULE) % max(1, agents - TARGETS_PER_RULE)
        router.add_route_rule(
            RouteRule(
                name=f"rule_{task}",
                condition=f"payload.get('task') == '{task}'",
                targets=ids[start : start + TARGETS_PER_RULE],
                priority=n,
            )
        )
    router.add_route_rule(RouteRule(name="catch_all", targets=ids[:TARGETS_PER_RULE], priority=999))
    for agent_id in ids:
        router.update_agent_load(agent_id, random_load(agent_id, rng))
    return router


def random_load(agent_id: str, rng: random.Random) -> LoadInfo:
    return LoadInfo(
        agent_id=agent_id,
        message_queue_size=rng.randint(0, 100),
        processing_time_ms=rng.uniform(10, 500),
        error_rate=rng.uniform(0, 0.05),
        capacity=100,
    )


def messages(
    count: int, rng: random.Random, *, senders: int = 1000, first_sender: int = 0
) -> list[Message]:
    """``count`` requests from ``senders`` distinct senders (0: every message its own sender,
    numbered from ``first_sender``)."""
    return [
        Message(
            sender_id=f"sender-{rng.randint(0, senders - 1) if senders else first_sender + n}",
            message_type=MessageType.REQUEST,
            priority=Priority(rng.randint(0, 3)),
            payload={"task": rng.choice(TASKS), "supplier": f"s-{rng.randint(0, 9999)}"},
        )
        for n in range(count)
    ]


def run_router(
    router: MessageRouter,
    batch: list[Message],
    strategy: RoutingStrategy,
    load_ids: Iterator[str],
    rng: random.Random,
    latencies: list[int] | None = None,
) -> float:
    """Decisions per second over ``batch``; fills ``latencies`` (ns) when given."""
    route = router.route_now
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for n, message in enumerate(batch):
        if n % 100 == 0:
            agent_id = next(load_ids)
            router.update_agent_load(agent_id, random_load(agent_id, rng))
        if latencies is None:
            route(message, strategy)
        else:
            before = clock()
            route(message, strategy)
            latencies.append(clock() - before)
    return len(batch) / (time.perf_counter() - started)


def run_baseline(batch: list[Message], agents: int) -> float:
    ids = [f"agent-{n:05d}" for n in range(agents)]
    cycles: dict[str, Callable[[], str]] = {}
    for n, task in enumerate(TASKS):
        start = (n * TARGETS_PER_RULE) % max(1, agents - TARGETS_PER_RULE)
        cycles[task] = itertools.cycle(ids[start : start + TARGETS_PER_RULE]).__next__
    started = time.perf_counter()
    for message in batch:
        cycles[message.payload["task"]]()
    return len(batch) / (time.perf_counter() - started)


async def measure(args: argparse.Namespace) -> list[Row]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        registry = await build_registry(Path(tmp) / "registry.db", args.agents)
        try:
            router = build_router(registry, args.agents, rng)
            await router.refresh()  # the health snapshot of every registered agent
            load_ids = itertools.cycle([f"agent-{n:05d}" for n in range(args.agents)])
            batch = messages(args.decisions, rng)
            baseline = statistics.median(
                run_baseline(batch, args.agents) for _ in range(args.repeats)
            )
            rows = []
            for strategy in RoutingStrategy:
                samples = [
                    run_router(router, batch, strategy, load_ids, rng) for _ in range(args.repeats)
                ]
                rows.append(
                    Row.from_samples(
                        "routing",
                        f"throughput_{strategy.value}",
                        "decisions/s",
                        samples,
                        target=Target(50_000, AT_LEAST),
                        baseline=baseline,
                    )
                )
            # Keys (senders) repeat in the batch above, as they do in service; this row sends
            # every message from a new sender (new in every repeat too), so no key's owner is
            # remembered.
            samples = [
                run_router(
                    router,
                    messages(args.decisions, rng, senders=0, first_sender=repeat * args.decisions),
                    RoutingStrategy.CONSISTENT_HASH,
                    load_ids,
                    rng,
                )
                for repeat in range(args.repeats)
            ]
            rows.append(
                Row.from_samples(
                    "routing",
                    "throughput_consistent_hash_unique_keys",
                    "decisions/s",
                    samples,
                    target=Target(50_000, AT_LEAST),
                    baseline=baseline,
                )
            )
            p50s, p99s = [], []
            for _ in range(args.repeats):
                latencies: list[int] = []
                for strategy, part in zip(
                    itertools.cycle(RoutingStrategy), _chunks(batch, 1000), strict=False
                ):
                    run_router(router, part, strategy, load_ids, rng, latencies)
                latencies.sort()
                p50s.append(latencies[len(latencies) // 2] / 1e6)
                p99s.append(latencies[int(len(latencies) * 0.99)] / 1e6)
            rows.append(
                Row.from_samples(
                    "routing", "latency_p50_mixed", "ms", p50s, target=Target(0.1, AT_MOST)
                )
            )
            rows.append(
                Row.from_samples(
                    "routing", "latency_p99_mixed", "ms", p99s, target=Target(5.0, AT_MOST)
                )
            )
            return rows
        finally:
            await registry.close()


def _chunks(items: list[Message], size: int) -> Iterator[list[Message]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    if args.agents < TARGETS_PER_RULE or args.decisions < 1 or args.repeats < 1:
        parser.error(f"--agents must be at least {TARGETS_PER_RULE}; others at least 1")
    rows = asyncio.run(measure(args))
    print_report(rows, as_json=args.json, title="routing benchmark (in-process)")
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
