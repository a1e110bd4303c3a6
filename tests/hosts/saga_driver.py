"""CSRD sagas from the bed's ``client`` host: ``python tests/hosts/saga_driver.py PREFIX COUNT
CONCURRENCY STEP_TIMEOUT_MS LATENCY_MS``.

Runs ``COUNT`` CSRD report sagas (``PREFIX-<n>``, every step bounded by ``STEP_TIMEOUT_MS``,
each action waiting ``LATENCY_MS`` after its effect) with at most ``CONCURRENCY`` in flight,
through ``SagaOrchestrator.execute`` on the settings of the environment. Prints ``done N``
as they end and, last, one JSON line: each saga's state and seconds from start to result.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from examples.csrd.saga import csrd_transaction
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import SagaError
from orchestration.core.lifecycle import exit_process


async def main(prefix: str, count: int, concurrency: int, step_ms: int, latency_ms: int) -> None:
    orchestrator = SagaOrchestrator()
    await orchestrator.initialize()
    slots = asyncio.Semaphore(concurrency)
    results: dict[str, tuple[str, float]] = {}

    async def one(n: int) -> None:
        base = csrd_transaction(f"{prefix}-{n}")
        steps = [step.model_copy(update={"timeout_ms": step_ms}) for step in base.steps]
        transaction = base.model_copy(update={"steps": steps})
        data = {"company": f"Host {prefix} {n}", "period": "2025", "latency_ms": latency_ms}
        async with slots:
            started = time.monotonic()
            try:
                await orchestrator.execute(transaction, data)
                state = "COMPLETED"
            except SagaError as exc:
                state = f"{type(exc).__name__}: {exc}"[:300]
            results[transaction.transaction_id] = (state, round(time.monotonic() - started, 2))
            print(f"done {len(results)}", flush=True)

    await asyncio.gather(*(one(n) for n in range(count)))
    print(json.dumps({"sagas": results}), flush=True)


if __name__ == "__main__":
    prefix_arg, *numbers = sys.argv[1:6]
    asyncio.run(main(prefix_arg, *(int(n) for n in numbers)))
    # The Temporal SDK's threads can crash an ordinary interpreter teardown (exit_process).
    exit_process(0)
