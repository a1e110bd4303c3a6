"""A workflow fed by a ``format: json`` bridge route (for the bridge tests): one per meter.

Each signal is ``{"id", "value", "key", "headers", "topic", "partition", "offset",
"timestamp_ms"}``; repeats are dropped by ``id`` with :class:`bus.dedup.SeenIds`, as a message
route's workflows drop them by ``message_id``.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bus.dedup import SeenIds


@workflow.defn(name="MeterReadingsWorkflow")
class MeterReadingsWorkflow:
    def __init__(self) -> None:
        self._seen = SeenIds(1000)
        self._applied: list[dict[str, Any]] = []
        self._duplicates = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)  # runs until terminated

    @workflow.signal
    def reading(self, record: dict[str, Any]) -> None:
        if not self._seen.add(str(record["id"])):
            self._duplicates += 1
            return
        self._applied.append(record)

    @workflow.query
    def state(self) -> dict[str, Any]:
        """``applied``: the signals taken, in order; ``duplicates``: how many were dropped."""
        return {"applied": list(self._applied), "duplicates": self._duplicates}
