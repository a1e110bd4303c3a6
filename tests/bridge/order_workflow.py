"""A workflow that records the order its bridged signals arrive in (for the bridge tests)."""

from __future__ import annotations

from typing import Any

from temporalio import workflow


@workflow.defn(name="SignalOrderWorkflow")
class SignalOrderWorkflow:
    def __init__(self) -> None:
        self._seqs: list[int] = []

    @workflow.run
    async def run(self) -> list[int]:
        await workflow.wait_condition(lambda: False)
        return self._seqs  # pragma: no cover - runs until terminated

    @workflow.signal
    def event(self, message: dict[str, Any]) -> None:
        self._seqs.append(int(message["payload"]["seq"]))

    @workflow.query
    def seqs(self) -> list[int]:
        return list(self._seqs)
