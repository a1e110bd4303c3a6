"""Search attributes our workflows set, so the Web UI and `temporal workflow list` can filter.

The embedded dev server registers them at start (``--search-attribute NAME=TYPE``); on a
production cluster register them once with ``temporal operator search-attribute create``.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

__all__ = [
    "ORCHESTRATION_NAME",
    "ORCHESTRATION_STATE",
    "ORCHESTRATION_TYPE",
    "REGISTERED",
    "SCHEDULED_BY",
    "orchestration_attributes",
]

ORCHESTRATION_TYPE = SearchAttributeKey.for_keyword("OrchestrationType")
"""What runs: ``agent_task``, ``saga``, ``swarm`` or ``pipeline``."""
ORCHESTRATION_NAME = SearchAttributeKey.for_keyword("OrchestrationName")
"""The user's name for it, e.g. the saga's transaction name."""
ORCHESTRATION_STATE = SearchAttributeKey.for_keyword("OrchestrationState")
"""Its current state, e.g. ``RUNNING`` or ``COMPENSATED``."""

REGISTERED: dict[str, str] = {
    key.name: "Keyword" for key in (ORCHESTRATION_TYPE, ORCHESTRATION_NAME, ORCHESTRATION_STATE)
}
"""Name → dev-server type, for ``temporal server start-dev --search-attribute``."""


def orchestration_attributes(kind: str, name: str, state: str) -> list[SearchAttributeUpdate[str]]:
    """What a workflow upserts when its state changes: its kind, its name and the state.

    Workflow code passes it to ``workflow.upsert_search_attributes``.
    """
    return [
        ORCHESTRATION_TYPE.value_set(kind),
        ORCHESTRATION_NAME.value_set(name),
        ORCHESTRATION_STATE.value_set(state),
    ]


SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")
"""Temporal's own attribute on a run a schedule started: the schedule's id."""
