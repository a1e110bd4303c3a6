"""Saga benchmark: latency and throughput of three-step sagas against a hand-written workflow.

Run: ``.venv/bin/python bench/saga.py [--sagas N] [--repeats R] [--concurrency C]
[--latency-runs L] [--wide-sagas W] [--wide-concurrency K] [--latency-only] [--json]``.

Setup: an ``EmbeddedStack`` in a fresh temporary state directory on free ports (Temporal dev
server on SQLite, the Tansu broker, the registry schema, and the orchestration worker
process, which runs ``SagaWorkflow`` on ``settings.task_queue``). This process runs one agent
(a Temporal worker on its own task queue with the actions ``reserve``, ``charge``, ``ship``
and their compensations), a worker for the hand-written baseline workflow, and the client.

The saga is always ``reserve -> charge -> ship`` (a linear DAG, each step with a
compensation), started with ``SagaOrchestrator.start`` and awaited with ``handle.result()``
to COMPLETED. The baseline is a minimal workflow defined here that calls the same three
activities one after another with ``workflow.execute_activity`` on the agent's queue. One
unmeasured warm-up batch of each kind goes first (``min(N, C)`` runs), then, in this order:

Latency (L sequential runs of each kind per repeat, default 200; ``--latency-runs 0`` skips
it). One run at a time on the otherwise idle stack: nothing else is in flight. A run's time
is wall time from calling ``start`` (saga) or ``execute_workflow`` (baseline) to having the
result. Saga and baseline runs alternate one by one, and which kind goes first flips every
pair, so drift of the shared machine hits both; 5 unmeasured pairs go first.

- ``latency_p50_ms`` / ``latency_p99_ms``: the saga's p50 / p99 over the L runs of a repeat
  (nearest rank), median over repeats; baseline: the hand-written workflow's, same repeats.
  Target: at most 1.2 x that same-run baseline (issue 21).
- ``latency_p50_ratio`` / ``latency_p99_ratio``: saga / hand-written percentile per repeat
  (paired), median over repeats; target ``<= 1.2``. Their ratio column is its inverse (the
  report's convention: above 1 is better than the baseline).

Throughput (wall time from the first start to the last result, N runs with at most C in
flight; sagas/min = N / elapsed * 60). Saga, baseline and routed sagas take turns (each kind
goes first in every third repeat) so drift hits all of them:

- ``throughput``: N sagas at C in flight.
- baseline: the hand-written workflow, same N, same C, same run.
- ``ratio_to_hand_written``: saga / baseline per repeat (paired), median over repeats
  (target 0.8, the quick reference's).
- ``routed_throughput``: the same sagas with every step routed by capability
  (``SagaStep(capability=..., action=...)``) instead of naming the agent: each step first
  runs the ``orchestration.route`` activity on the orchestration worker, which asks the
  stack's registry service for the agent (registered by this process's agent worker) and
  lets the least-loaded strategy pick it.
- ``routed_ratio_to_fixed``: routed / fixed-agent sagas per repeat (paired), median.
- ``throughput_at_K_in_flight`` / ``ratio_at_K_in_flight`` (K = ``--wide-concurrency``,
  default 500; 0 skips them): W sagas (``--wide-sagas``, default 1000) and W baseline runs
  at K in flight, taking turns per repeat; the ratio is saga / baseline per repeat (paired),
  median, target ``>= 0.9`` (issue 21).
- ``compensation_success``: N sagas whose third step always fails (non-retryable
  ``ApplicationError``, ``maximum_attempts=1``); a saga counts when it ends in ``SagaError``
  with state COMPENSATED and ``reserve`` and ``charge`` in ``compensated_steps``.

``--latency-only`` measures the warm-up and latency only (``bench/scaling.py`` runs it with
10x the latency runs: latency should not grow with them).

Worker options, the same for saga and baseline: the baseline worker uses the SDK defaults,
like the orchestration worker (``workers.orchestration_worker.build_worker``); both runs share
the one agent worker (``max_concurrent_activities = max(100, C, K)``, default pollers). Note
the asymmetry the layout imposes: saga workflow tasks run in the worker *process*, baseline
workflow tasks in this process (which also runs the agent and the client). CPU seconds per
process during each kind of batch are printed on stderr, to show what bounds the rate.

The workflow sandbox re-imports a workflow's module for every run. With
``PYTHONDONTWRITEBYTECODE=1`` and no ``.pyc`` next to an editable install's sources, that
would mean compiling the module from source each time. The orchestration worker then caches
bytecode under its state directory (``cache_bytecode``), and this process does the same for
the baseline's module (this file) in a scratch directory, so neither kind pays for compiling.
"""

from __future__ import annotations

import sys
from pathlib import Path

from temporalio import workflow as _workflow

# Run as a file, bench/ comes first on sys.path and bench/registry.py would hide the registry
# package: put the repository root in its place (not needed, nor allowed, when the workflow
# sandbox re-imports this module for the baseline workflow).
if (
    not _workflow.unsafe.in_sandbox()
    and sys.path
    and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent
):
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import logging
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow

# The baseline workflow's module is re-imported in the workflow sandbox for every run: pass
# everything through, as workflow modules here do, so the baseline pays no import cost.
with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel
    from temporalio.client import Client
    from temporalio.exceptions import ApplicationError
    from temporalio.worker import Worker

    from activities.agent import Agent
    from activities.context import ActionContext
    from activities.presence import AgentPresence
    from bench.cpu import CpuMeter
    from bench.report import AT_LEAST, AT_MOST, Row, Target, exit_status, print_report
    from bench.stack import embedded_stack
    from orchestration.clients.saga import SagaOrchestrator
    from orchestration.core.exceptions import SagaError
    from orchestration.core.retry import RetrySpec
    from orchestration.core.settings import Settings
    from orchestration.core.temporal_client import connect
    from orchestration.stack import EmbeddedStack
    from registry.discovery import DiscoveryQuery
    from registry.models import AgentDescriptor
    from registry.remote_registry import RemoteAgentRegistry
    from workflows.models import ActionRequest
    from workflows.saga_models import SagaState, SagaStep, SagaTransaction

log = logging.getLogger("bench.saga")

CAPABILITY = "bench_orders"
STEPS = (("reserve", "release"), ("charge", "refund"), ("ship", "recall"))
"""(action, compensation) of each step, in order."""
FAILING_ACTION = "ship_refused"


# -- the hand-written baseline ---------------------------------------------------------


class BaselineInput(BaseModel):
    """Input of :class:`HandWrittenSaga`: which activities to call, on which queue."""

    actions: list[str]
    task_queue: str
    data: Any = None


@workflow.defn(name="BenchHandWrittenSaga")
class HandWrittenSaga:
    """The least a three-step saga must do: three activities, one after another."""

    @workflow.run
    async def run(self, request: BaselineInput) -> dict[str, Any]:
        workflow_id = workflow.info().workflow_id
        outputs: dict[str, Any] = {}
        for action in request.actions:
            outputs[action] = await workflow.execute_activity(
                action,
                ActionRequest(
                    data=request.data, idempotency_key=f"{workflow_id}/{action}", caller=workflow_id
                ),
                task_queue=request.task_queue,
                start_to_close_timeout=timedelta(seconds=60),
            )
        return outputs


# -- the agent and the sagas -----------------------------------------------------------


def build_agent(agent_id: str, *, max_concurrent_actions: int) -> Agent:
    """One agent with the three actions, their compensations, and an action that always fails."""
    agent = Agent(
        AgentDescriptor(agent_id=agent_id, agent_type="BenchAgent", capabilities=[CAPABILITY]),
        max_concurrent_actions=max_concurrent_actions,
    )
    for action, compensation in STEPS:
        agent.action(action)(_echo(action))
        agent.action(compensation)(_echo(compensation))

    @agent.action(FAILING_ACTION)
    async def refuse(data: Any, ctx: ActionContext) -> dict[str, Any]:
        raise ApplicationError("the carrier refused the parcel", type="Refused", non_retryable=True)

    return agent


def _echo(name: str) -> Callable[[Any, ActionContext], Awaitable[dict[str, Any]]]:
    async def handler(data: Any, ctx: ActionContext) -> dict[str, Any]:
        return {"done": name, "key": ctx.idempotency_key}

    handler.__name__ = name
    return handler


def transaction(agent_id: str, *, failing: bool = False, routed: bool = False) -> SagaTransaction:
    """``reserve -> charge -> ship``; with ``failing`` the third step always fails; with
    ``routed`` every step names the capability instead of the agent."""
    steps: list[SagaStep] = []
    for index, (action, compensation) in enumerate(STEPS):
        last = index == len(STEPS) - 1
        extra: dict[str, Any] = {"depends_on": [steps[-1].name]} if steps else {}
        if failing and last:
            action = FAILING_ACTION
            extra["retry_policy"] = RetrySpec(maximum_attempts=1)
        name = STEPS[index][0]
        if routed:
            extra["capability"] = CAPABILITY
        else:
            extra["agent_id"] = agent_id
        steps.append(SagaStep(name, action=action, compensation=compensation, **extra))
    return SagaTransaction(name="bench-order", steps=steps)


def order(index: int) -> dict[str, Any]:
    return {"order_id": index, "amount": 42.5}


class BenchFailure(Exception):
    """One measured run did not end the way the benchmark needs."""


# -- measuring -------------------------------------------------------------------------

LATENCY_WARM_UP_PAIRS = 5
LATENCY_RATIO_TARGET = 1.2
"""Issue 21: a saga's p50 and p99, start to result, at most 1.2x the hand-written one's."""
WIDE_RATIO_TARGET = 0.9
"""Issue 21: throughput at 500 sagas in flight at least 0.9x the hand-written one's."""


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in (0, 1]) of a non-empty list; NaN if any is."""
    if not values or any(math.isnan(v) for v in values):
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


async def rate_per_minute(
    run_one: Callable[[int], Awaitable[None]], n: int, c: int, *, timeout_s: float
) -> float:
    """Runs per minute for ``n`` runs with at most ``c`` in flight; NaN if any run failed."""
    slots = asyncio.Semaphore(c)

    async def guarded(index: int) -> None:
        async with slots:
            await run_one(index)

    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s), asyncio.TaskGroup() as group:
            for index in range(n):
                group.create_task(guarded(index))
    except TimeoutError:
        log.error("batch of %d did not finish within %g s", n, timeout_s)
        return math.nan
    except Exception as exc:
        first = exc.exceptions[0] if isinstance(exc, ExceptionGroup) else exc
        log.error("a run failed, so the batch is not measured: %s: %s", type(first).__name__, first)
        return math.nan
    return n / (time.perf_counter() - start) * 60


@dataclass
class Bench:
    """What one benchmark run needs: the client, the orchestrator, the queues, the options."""

    client: Client
    orchestrator: SagaOrchestrator
    agent: Agent
    baseline_queue: str
    sagas: int
    concurrency: int
    timeout_s: float
    latency_runs: int = 0
    wide_sagas: int = 0
    wide_concurrency: int = 0

    async def saga(self, index: int, *, routed: bool = False) -> None:
        saga = transaction(self.agent.agent_id, routed=routed)
        handle = await self.orchestrator.start(saga, order(index))
        execution = await handle.result()
        if execution.state != SagaState.COMPLETED:
            raise BenchFailure(f"saga {execution.transaction_id} ended {execution.state}")
        if routed and execution.steps["ship"].agent_id != self.agent.agent_id:
            raise BenchFailure(f"saga {execution.transaction_id} was routed elsewhere")

    async def routed(self, index: int) -> None:
        await self.saga(index, routed=True)

    async def baseline(self, index: int) -> None:
        await self.client.execute_workflow(
            HandWrittenSaga.run,
            BaselineInput(
                actions=[action for action, _ in STEPS],
                task_queue=self.agent.task_queue,
                data=order(index),
            ),
            id=f"bench-baseline-{uuid.uuid4()}",
            task_queue=self.baseline_queue,
        )

    async def compensation_problem(self, index: int) -> str | None:
        """None when the failing saga was compensated as required, else what went wrong."""
        try:
            await self.orchestrator.execute(
                transaction(self.agent.agent_id, failing=True), order(index)
            )
        except SagaError as exc:
            execution = exc.execution
            if execution is None:
                return f"{type(exc).__name__} without an execution: {exc}"
            if execution.state != SagaState.COMPENSATED:
                return f"ended {execution.state}: {exc}"
            missing = {"reserve", "charge"} - set(execution.compensated_steps)
            if missing:
                return f"not compensated: {sorted(missing)} ({exc})"
            return None
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return "completed although its third step always fails"

    def rate(self, kind: str, n: int | None = None, c: int | None = None) -> Awaitable[float]:
        run_one = {"saga": self.saga, "baseline": self.baseline, "routed": self.routed}[kind]
        return rate_per_minute(
            run_one, n or self.sagas, c or self.concurrency, timeout_s=self.timeout_s
        )

    async def latencies(self, runs: int) -> dict[str, list[float]]:
        """Start-to-result ms of ``runs`` sagas and ``runs`` baseline runs, one at a time,
        alternating run by run; which kind goes first flips every pair. NaN for a run that
        failed or timed out (the row then fails)."""
        times: dict[str, list[float]] = {"saga": [], "baseline": []}
        run_of = {"saga": self.saga, "baseline": self.baseline}
        for index in range(runs):
            pair = ("saga", "baseline") if index % 2 == 0 else ("baseline", "saga")
            for kind in pair:
                start = time.perf_counter()
                try:
                    async with asyncio.timeout(self.timeout_s):
                        await run_of[kind](index)
                except Exception as exc:
                    log.error("a %s latency run failed: %s: %s", kind, type(exc).__name__, exc)
                    times[kind].append(math.nan)
                    continue
                times[kind].append((time.perf_counter() - start) * 1000)
        return times

    async def compensation_percent(self) -> float:
        problems: list[str | None] = [None] * self.sagas

        async def check(index: int) -> None:
            problems[index] = await self.compensation_problem(index)

        rate = await rate_per_minute(check, self.sagas, self.concurrency, timeout_s=self.timeout_s)
        if math.isnan(rate):
            return math.nan
        failed = [p for p in problems if p is not None]
        for problem in sorted(set(failed))[:5]:
            log.error("compensation check failed: %s", problem)
        log.info("compensation: %d/%d sagas compensated (%.0f sagas/min)",
                 self.sagas - len(failed), self.sagas, rate)  # fmt: skip
        return 100.0 * (self.sagas - len(failed)) / self.sagas


async def measure(
    bench: Bench, repeats: int, meter: CpuMeter, *, latency_only: bool = False
) -> list[Row]:
    """Warm up; measure latency on the idle stack; then take turns with saga, baseline and
    routed batches, then with saga and baseline batches at the wide concurrency; then check
    compensation."""
    warm_up = min(bench.sagas, bench.concurrency)
    kinds = ("saga", "baseline", "routed")
    for kind in kinds:
        await bench.rate(kind, warm_up)
    rows: list[Row] = []
    if bench.latency_runs:
        await bench.latencies(LATENCY_WARM_UP_PAIRS)
        per_repeat: list[dict[str, list[float]]] = []
        for repeat in range(repeats):
            with meter.measure("latency (both kinds)", 2 * bench.latency_runs):
                times = await bench.latencies(bench.latency_runs)
            per_repeat.append(times)
            log.info(
                "repeat %d/%d latency p50/p99 ms: saga %.1f/%.1f, hand-written %.1f/%.1f",
                repeat + 1, repeats,
                percentile(times["saga"], 0.5), percentile(times["saga"], 0.99),
                percentile(times["baseline"], 0.5), percentile(times["baseline"], 0.99),
            )  # fmt: skip
        rows += latency_rows([t["saga"] for t in per_repeat], [t["baseline"] for t in per_repeat])
    if latency_only:
        return rows
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    for repeat in range(repeats):
        turn = repeat % len(kinds)
        for kind in kinds[turn:] + kinds[:turn]:
            with meter.measure(kind, bench.sagas):
                rate = await bench.rate(kind)
            rates[kind].append(rate)
            log.info("repeat %d/%d %-8s %8.0f per min", repeat + 1, repeats, kind, rate)
    wide: dict[str, list[float]] = {"saga": [], "baseline": []}
    if bench.wide_concurrency:
        n, c = bench.wide_sagas, bench.wide_concurrency
        for repeat in range(repeats):
            for kind in ("saga", "baseline") if repeat % 2 == 0 else ("baseline", "saga"):
                with meter.measure(f"{kind} at {c} in flight", n):
                    rate = await bench.rate(kind, n, c)
                wide[kind].append(rate)
                log.info("repeat %d/%d %-8s %8.0f per min at %d in flight",
                         repeat + 1, repeats, kind, rate, c)  # fmt: skip
    with meter.measure("compensation", bench.sagas):
        percent = await bench.compensation_percent()
    rows += saga_rows(rates["saga"], rates["baseline"], percent, routed=rates["routed"])
    if bench.wide_concurrency:
        rows[-1:-1] = wide_rows(wide["saga"], wide["baseline"], bench.wide_concurrency)
    return rows


def latency_rows(saga: list[list[float]], baseline: list[list[float]]) -> list[Row]:
    """``latency_p50_ms``, ``latency_p99_ms`` and their paired ratio rows, from each
    repeat's start-to-result times (ms) of sagas and of hand-written runs."""
    rows: list[Row] = []
    ratio_rows: list[Row] = []
    for name, fraction in (("p50", 0.5), ("p99", 0.99)):
        saga_ms = [percentile(times, fraction) for times in saga]
        base_ms = [percentile(times, fraction) for times in baseline]
        base_median = _median(base_ms)
        paired = [s / b if b else math.nan for s, b in zip(saga_ms, base_ms, strict=True)]
        paired_median = _median(paired)
        rows.append(
            Row.from_samples(
                "saga", f"latency_{name}_ms", "ms", saga_ms,
                target=Target(LATENCY_RATIO_TARGET * base_median, AT_MOST),
                baseline=base_median,
            )
        )  # fmt: skip
        ratio_rows.append(
            Row.from_samples(
                "saga", f"latency_{name}_ratio", "x", paired,
                target=Target(LATENCY_RATIO_TARGET, AT_MOST), baseline=base_median,
                ratio_value=1 / paired_median if paired_median else None,
            )
        )  # fmt: skip
    return rows + ratio_rows


def wide_rows(saga: list[float], baseline: list[float], in_flight: int) -> list[Row]:
    """Throughput at ``in_flight`` sagas in flight and its paired ratio to hand-written."""
    baseline_median = _median(baseline)
    paired = [s / b if b else math.nan for s, b in zip(saga, baseline, strict=True)]
    return [
        Row.from_samples(
            "saga", f"throughput_at_{in_flight}_in_flight", "sagas/min", saga,
            target=Target(1000, AT_LEAST), baseline=baseline_median,
        ),
        Row.from_samples(
            "saga", f"ratio_at_{in_flight}_in_flight", "x", paired,
            target=Target(WIDE_RATIO_TARGET, AT_LEAST), baseline=baseline_median,
            ratio_value=_median(paired),
        ),
    ]  # fmt: skip


def saga_rows(
    saga: list[float],
    baseline: list[float],
    compensated_percent: float,
    *,
    routed: list[float] | None = None,
) -> list[Row]:
    """The rows of this benchmark, from per-repeat rates and the compensation check."""
    baseline_median = _median(baseline)
    paired = [s / b if b else math.nan for s, b in zip(saga, baseline, strict=True)]
    throughput_row = Row.from_samples(
        "saga", "throughput", "sagas/min", saga,
        target=Target(1000, AT_LEAST), baseline=baseline_median,
    )  # fmt: skip
    ratio_row = Row.from_samples(
        "saga", "ratio_to_hand_written", "x", paired,
        target=Target(0.8, AT_LEAST), baseline=baseline_median,
        ratio_value=_median(paired),
    )  # fmt: skip
    rows = [throughput_row, ratio_row]
    if routed:
        fixed_median = _median(saga)
        per_repeat = [r / s if s else math.nan for r, s in zip(routed, saga, strict=True)]
        rows += [
            Row.from_samples(
                "saga", "routed_throughput", "sagas/min", routed,
                target=Target(800, AT_LEAST), baseline=fixed_median,
            ),
            Row.from_samples(
                "saga", "routed_ratio_to_fixed", "x", per_repeat,
                target=Target(0.8, AT_LEAST), baseline=fixed_median,
                ratio_value=_median(per_repeat),
            ),
        ]  # fmt: skip
    rows.append(
        Row.from_samples(
            "saga", "compensation_success", "%", [compensated_percent], target=Target(100)
        )
    )
    return rows


def _median(values: list[float]) -> float:
    return math.nan if any(math.isnan(v) for v in values) else statistics.median(values)


# -- the stack -------------------------------------------------------------------------


async def run_bench(args: argparse.Namespace) -> list[Row]:
    """Start the stack, measure, and stop the stack whatever happens."""
    async with embedded_stack("saga") as stack:
        return await _measure_on(stack, args)


async def _measure_on(stack: EmbeddedStack, args: argparse.Namespace) -> list[Row]:
    settings = stack.settings
    client = await connect(settings)
    suffix = uuid.uuid4().hex[:8]
    agent = build_agent(
        f"bench-agent-{suffix}",
        max_concurrent_actions=max(100, args.concurrency, args.wide_concurrency),
    )
    bench = Bench(
        client=client,
        orchestrator=SagaOrchestrator(None, settings=settings, client=client),
        agent=agent,
        baseline_queue=f"bench-baseline-{suffix}",
        sagas=args.sagas,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        latency_runs=args.latency_runs,
        wide_sagas=args.wide_sagas,
        wide_concurrency=args.wide_concurrency,
    )
    pids: dict[str, int | str] = {p.name: p.pid for p in stack.processes}
    pids["bench"] = "self"
    meter = CpuMeter(pids)
    baseline_worker = Worker(client, task_queue=bench.baseline_queue, workflows=[HandWrittenSaga])
    presence = AgentPresence(agent.descriptor, agent.stats, settings)  # as Agent.run has
    async with agent.worker(client), baseline_worker, presence:
        await registered(settings, agent.agent_id)
        rows = await measure(bench, args.repeats, meter, latency_only=args.latency_only)
    for line in meter.summary():
        log.info("%s", line)
    return rows


async def registered(settings: Settings, agent_id: str, timeout_s: float = 30.0) -> None:
    """Until the registry service finds the agent by its capability (its presence registers
    it in the background)."""
    query = DiscoveryQuery.build(capabilities=[CAPABILITY])
    async with (
        RemoteAgentRegistry(settings.registry.service_url) as registry,
        asyncio.timeout(timeout_s),
    ):
        while True:
            if agent_id in {a.agent_id for a in await registry.discover(query)}:
                return
            await asyncio.sleep(0.2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sagas", type=int, default=300, help="sagas per batch (N)")
    parser.add_argument("--repeats", type=int, default=3, help="saga/baseline batch pairs (R)")
    parser.add_argument("--concurrency", type=int, default=50, help="sagas in flight (C)")
    parser.add_argument(
        "--latency-runs",
        type=int,
        default=200,
        help="sequential runs of each kind per repeat for latency (L; 0 skips)",
    )
    parser.add_argument(
        "--wide-sagas", type=int, default=1000, help="sagas per batch at the wide concurrency (W)"
    )
    parser.add_argument(
        "--wide-concurrency",
        type=int,
        default=500,
        help="sagas in flight for the ratio_at_K_in_flight rows (K; 0 skips)",
    )
    parser.add_argument(
        "--latency-only", action="store_true", help="measure latency only (after the warm-up)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per batch")
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    for name in ("sagas", "repeats", "concurrency", "wide_sagas"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("latency_runs", "wide_concurrency"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be at least 0")
    if args.latency_only and not args.latency_runs:
        parser.error("--latency-only needs --latency-runs of at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    log.setLevel(logging.INFO)
    # Every refused third step would log a warning with a traceback; errors still show.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    with contextlib.ExitStack() as scratch:
        if sys.dont_write_bytecode:
            # As the orchestration worker does (``cache_bytecode``): the sandbox re-imports
            # the baseline's module for every run; compile it once, not every time.
            prefix = scratch.enter_context(tempfile.TemporaryDirectory(prefix="bench-pyc-"))
            sys.dont_write_bytecode = False
            sys.pycache_prefix = prefix
        rows = asyncio.run(run_bench(args))
    print_report(rows, as_json=args.json, title="saga benchmark")
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
