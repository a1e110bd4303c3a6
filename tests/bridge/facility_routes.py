"""The bridge route the facility example's tests share: ``topic`` -> one
``FacilityEmissionsWorkflow`` per facility (``<unique>-<facility_id>``), on task queue
``unique``."""

from __future__ import annotations

from pathlib import Path


def facility_routes(directory: Path, topic: str, unique: str) -> Path:
    """Write the routes file into ``directory``; its path (for ``ORCH_BRIDGE_CONFIG``)."""
    path = directory / "routes.yaml"
    path.write_text(
        "routes:\n"
        f"  - topic: {topic}\n"
        "    workflow: FacilityEmissionsWorkflow\n"
        f'    workflow_id: "{unique}-{{payload.facility_id}}"\n'
        "    signal: reading\n"
        f"    task_queue: {unique}\n"
    )
    return path
