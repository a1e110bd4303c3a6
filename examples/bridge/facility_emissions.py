"""A bridged entity workflow: one per facility, fed by meter readings from Kafka.

The bridge (``routes.yaml`` beside this file) signals ``reading`` on
``facility-<facility_id>`` for every message on ``facility.readings``, starting the workflow
with the first one. Each reading's ``kwh`` times its grid factor (kg CO2e per kWh) is added to
the facility's total. Readings are deduplicated by message id — the bridge delivers at least
once — with a bounded memory that survives continue-as-new, which the workflow does every
``READINGS_PER_RUN`` readings to keep its history short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bus.dedup import SeenIds

__all__ = ["WORKFLOWS", "FacilityEmissionsWorkflow", "FacilityState"]

READINGS_PER_RUN = 500
SEEN_IDS = 10_000


@dataclass
class FacilityState:
    """What a facility's workflow carries from one run to the next."""

    total_kg_co2e: float = 0.0
    readings: int = 0
    duplicates: int = 0
    rejected: int = 0
    seen: list[str] = field(default_factory=list)


@workflow.defn(name="FacilityEmissionsWorkflow")
class FacilityEmissionsWorkflow:
    def __init__(self) -> None:
        self._state = FacilityState()
        self._seen = SeenIds(SEEN_IDS)
        self._this_run = 0
        self._closed = False

    @workflow.run
    async def run(self, state: FacilityState | None = None) -> FacilityState:
        if state is not None:
            self._state = state
            self._seen = SeenIds.restore(state.seen, SEEN_IDS)
        await workflow.wait_condition(lambda: self._closed or self._this_run >= READINGS_PER_RUN)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._state.seen = self._seen.export()
        if self._closed:
            return self._state
        workflow.continue_as_new(self._state)

    @workflow.signal
    def reading(self, message: dict[str, Any]) -> None:
        """One bridged message: ``payload`` holds ``kwh`` and ``factor_kg_per_kwh``."""
        if not self._seen.add(str(message.get("message_id", ""))):
            self._state.duplicates += 1
            return
        payload = message.get("payload") or {}
        kwh, factor = payload.get("kwh"), payload.get("factor_kg_per_kwh")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (kwh, factor)):
            self._state.rejected += 1
            workflow.logger.warning("reading %s lacks kwh/factor", message.get("message_id"))
            return
        self._state.total_kg_co2e += float(kwh) * float(factor)
        self._state.readings += 1
        self._this_run += 1

    @workflow.signal
    def close(self) -> None:
        self._closed = True

    @workflow.query
    def totals(self) -> FacilityState:
        return FacilityState(
            total_kg_co2e=self._state.total_kg_co2e,
            readings=self._state.readings,
            duplicates=self._state.duplicates,
            rejected=self._state.rejected,
        )


WORKFLOWS = [FacilityEmissionsWorkflow]
"""Run by the orchestration worker when this module is in ``ORCH_WORKER_MODULES``."""
