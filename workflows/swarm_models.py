"""What a swarm deployment takes and returns (``SwarmWorkflow``, ``SwarmOrchestrator.deploy``).

A swarm job is ``data_partitions`` partitions processed by a pool of ``agents_required``
agents; a partition's work is the agent action ``action`` (see ``activities/swarm_batch.py``:
each assignment runs as one activity processing a batch of partitions, heartbeating). The
data comes from exactly one of:

- ``items``: inline items, split into ``data_partitions`` contiguous chunks (small jobs: the
  items travel through workflow history);
- ``source``: an action (on an agent) returning the partitions' descriptors, each
  ``{"items": <count>, "key": <group or null>, "data": {...}}`` (up to 10,000 partitions);
- ``items_per_partition``: nothing but the partition's index: the action receives
  ``partition`` and ``of`` and fetches its own data (any size, e.g. 100,000 partitions);
- ``source=DatasetSource(...)``: a CSV, JSONL or Parquet file, local or in an object store,
  split into partitions of rows by the orchestration worker (``workflows/swarm_files.py``);
  the agent reads each partition's rows and the action gets them as ``items``, exactly as
  inline items; ``data_partitions`` is then optional (that many equal parts; else
  ``rows_per_partition``).

Every partition call receives ``{"partition", "of", "objective", "params", "key"}`` plus
``items`` (inline) or ``data`` (source) and returns a partial result; ``reducer`` (see
``workflows/reducers.py``) folds the partials into the job's result.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from orchestration.core.retry import MIN_TIMEOUT_MS
from orchestration.core.validation import AgentId, Name
from swarm.scheduling import SwarmBehavior
from workflows.ranges import parse_ranges
from workflows.reducers import check_reducer
from workflows.swarm_files import (
    MAX_DATASET_PARTITIONS,
    DatasetPlan,
    DatasetRef,
    DatasetSource,
    ResultWriter,
)

__all__ = [
    "MAX_PARTITIONS",
    "MAX_SOURCE_PARTITIONS",
    "SWARM_BATCH",
    "Redrive",
    "SourceRef",
    "SwarmAgentInfo",
    "SwarmBatch",
    "SwarmBatchResult",
    "SwarmCarry",
    "SwarmInput",
    "SwarmProgress",
    "SwarmTask",
]

MAX_PARTITIONS = 1_000_000
MAX_SOURCE_PARTITIONS = 10_000
AUTO_BATCH_MIN = 10
AUTO_BATCHES_PER_AGENT = 2
MAX_AGENTS = 1_000
"""Temporal allows 2,000 pending activities per workflow; one batch per agent, plus backups."""


def _swarm_id() -> str:
    return f"swarm-{uuid.uuid4().hex[:12]}"


class SourceRef(BaseModel):
    """The action that lists a job's partitions."""

    model_config = ConfigDict(extra="forbid")

    agent_id: AgentId
    action: Name
    params: dict[str, Any] = Field(default_factory=dict)


class Redrive(BaseModel):
    """A swarm that finishes an earlier one (``SwarmOrchestrator.redrive``): it runs only
    ``partitions`` and reduces onto the earlier swarm's accumulator."""

    model_config = ConfigDict(extra="forbid")

    of: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    partitions: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="The partitions to run, as ranges: '3, 17-20'."
    )
    accumulator: dict[str, Any] = Field(description="The earlier swarm's reducer state.")

    @model_validator(mode="after")
    def _ranges(self) -> Redrive:
        try:
            parse_ranges(self.partitions)
        except ValueError as exc:
            raise ValueError(f"partitions: {exc}") from None
        return self


def _source_kind(value: Any) -> str:
    """Which source a task's ``source`` is: a dataset names a ``uri``, an action does not
    (so an error names only the fields of the one meant)."""
    if isinstance(value, dict):
        return "dataset" if "uri" in value else "action"
    return "dataset" if isinstance(value, DatasetSource) else "action"


class SwarmAgentInfo(BaseModel):
    """What FLOCKING and CLUSTERING may know about an agent (from the registry)."""

    model_config = ConfigDict(extra="forbid")

    location: str | None = None
    upstream: str | None = None


class SwarmTask(BaseModel):
    """The quick reference's ``SwarmTask`` plus what the work needs (see module docstring)."""

    model_config = ConfigDict(extra="forbid")

    objective: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    priority: int | None = Field(default=None, ge=1, le=5)
    """Temporal task priority of the swarm's calls (1 most urgent .. 5; None: 3): give a
    large swarm 5 so urgent sagas on the same agents go first."""
    data_partitions: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PARTITIONS,
        description="Partitions of the job; with a DatasetSource optional (the plan counts).",
    )
    agents_required: int = Field(ge=1, le=MAX_AGENTS)
    behavior: SwarmBehavior = SwarmBehavior.FORAGING
    convergence_threshold: float = Field(default=0.95, gt=0, le=1)
    timeout_ms: int = Field(default=300_000, ge=MIN_TIMEOUT_MS, le=30 * 24 * 3600 * 1000)
    action: Name = Field(description="The agent action that processes one partition.")
    agents: list[AgentId] = Field(
        default_factory=list,
        max_length=MAX_AGENTS,
        description="The pool; empty: discovered by capabilities through the registry.",
    )
    capabilities: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20
    )
    agent_info: dict[AgentId, SwarmAgentInfo] = Field(default_factory=dict)
    items: list[Any] | None = None
    source: (
        Annotated[
            Annotated[SourceRef, Tag("action")] | Annotated[DatasetSource, Tag("dataset")],
            Discriminator(_source_kind),
        ]
        | None
    ) = None
    items_per_partition: int | None = Field(default=None, ge=1, le=1_000_000_000)
    partition_key: Name | None = Field(
        default=None, description="Inline items: the item field that groups a partition."
    )
    params: dict[str, Any] = Field(default_factory=dict)
    reducer: str = "sum"
    max_attempts: int = Field(default=3, ge=1, le=100, description="Per partition.")
    max_batch: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Partitions per assignment at most; None: a quarter of an agent's share "
        f"of the job, at least {AUTO_BATCH_MIN} (see batch_size).",
    )
    partition_timeout_ms: int = Field(default=60_000, ge=MIN_TIMEOUT_MS, le=3_600_000)
    heartbeat_timeout_ms: int = Field(default=10_000, ge=MIN_TIMEOUT_MS, le=3_600_000)
    agent_timeout_ms: int = Field(
        default=30_000,
        ge=MIN_TIMEOUT_MS,
        le=3_600_000,
        description="An assignment no agent picks up within this long fails (agent gone).",
    )
    max_agent_failures: int = Field(default=3, ge=1, le=100)
    tolerated_failure_count: int | None = Field(
        default=None,
        ge=0,
        le=100_000_000,
        description="End the swarm failed at once when more partitions than this have "
        "failed for good (after max_attempts), instead of running the rest.",
    )
    tolerated_failure_percent: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="The same bound as a percentage of all partitions.",
    )
    result_writer: ResultWriter | None = Field(
        default=None, description="Write a manifest of the run here at the end."
    )
    redrive: Redrive | None = None
    max_history_events: int = Field(
        default=20_000,
        ge=200,
        le=40_000,
        description="Continue as new past this many history events (Temporal's limit: 50k).",
    )
    swarm_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,199}$")] = (
        Field(default_factory=_swarm_id)
    )

    def batch_size(self, partitions: int) -> int:
        """Partitions per assignment at most: ``max_batch``, or when None
        ``ceil(partitions / (agents x 4))`` within [AUTO_BATCH_MIN, 1000]: every agent gets
        about four assignments, so a large job is not cut into more activities than load
        balancing needs (each costs the workflow a few milliseconds)."""
        if self.max_batch is not None:
            return self.max_batch
        share = math.ceil(partitions / (max(1, len(self.agents)) * AUTO_BATCHES_PER_AGENT))
        return max(AUTO_BATCH_MIN, min(1000, share))

    def failures_tolerated(self, partitions: int) -> int | None:
        """How many of ``partitions`` may fail for good before the swarm gives up (the
        tighter of the two bounds); None when neither is set."""
        bounds = []
        if self.tolerated_failure_count is not None:
            bounds.append(self.tolerated_failure_count)
        if self.tolerated_failure_percent is not None:
            bounds.append(math.floor(partitions * self.tolerated_failure_percent / 100))
        return min(bounds) if bounds else None

    @model_validator(mode="after")
    def _consistent(self) -> SwarmTask:
        check_reducer(self.reducer)
        sources = [
            name
            for name, given in (
                ("items", self.items is not None),
                ("source", self.source is not None),
                ("items_per_partition", self.items_per_partition is not None),
            )
            if given
        ]
        if len(sources) > 1:
            raise ValueError(f"give one data source, not {' and '.join(sources)}")
        if isinstance(self.source, DatasetSource):
            self._check_dataset(self.source)
        elif self.data_partitions is None:
            raise ValueError("data_partitions is required (optional only with a DatasetSource)")
        if self.items is not None and len(self.items) < (self.data_partitions or 0):
            raise ValueError(
                f"{len(self.items)} items cannot fill data_partitions={self.data_partitions}"
            )
        listed = self.data_partitions or 0
        if isinstance(self.source, SourceRef) and listed > MAX_SOURCE_PARTITIONS:
            raise ValueError(
                f"a source lists at most {MAX_SOURCE_PARTITIONS:,} partitions; use "
                "items_per_partition for more"
            )
        if self.partition_key is not None and self.items is None:
            raise ValueError("partition_key groups inline items; sources give each a key")
        if self.agents and len(set(self.agents)) != len(self.agents):
            raise ValueError("agents repeats an agent id")
        if self.agents and len(self.agents) < self.agents_required:
            raise ValueError(
                f"agents_required={self.agents_required} but only {len(self.agents)} agents "
                "were given"
            )
        if not self.agents and not self.capabilities:
            raise ValueError("give agents, or capabilities to discover them by")
        return self

    def _check_dataset(self, source: DatasetSource) -> None:
        if self.data_partitions is not None and source.rows_per_partition is not None:
            raise ValueError(
                "give data_partitions or source.rows_per_partition, not both (each sets how "
                "a dataset is split)"
            )
        if (self.data_partitions or 0) > MAX_DATASET_PARTITIONS:
            raise ValueError(
                f"a dataset is split into at most {MAX_DATASET_PARTITIONS:,} partitions"
            )

    @property
    def partitions(self) -> int:
        """``data_partitions`` of a task that has it (not a dataset's: its plan counts)."""
        if self.data_partitions is None:
            raise ValueError(f"swarm {self.swarm_id}: its dataset's plan counts its partitions")
        return self.data_partitions


class SwarmCarry(BaseModel):
    """What a swarm carries across continue-as-new."""

    started_at: float
    iterations: int
    state: dict[str, Any] = Field(description="SwarmState.export(): partitions, agents, result")
    policy_memory: dict[str, Any]
    converged_at: float | None = None
    plan_items: list[int] | None = Field(default=None, description="A source's plan.")
    plan_keys: list[str | None] | None = None
    plan_data: list[dict[str, Any]] | None = None
    plan_dataset: DatasetPlan | None = Field(default=None, description="A dataset's plan.")
    runs: int = 1


class SwarmInput(BaseModel):
    """``SwarmWorkflow``'s one argument (``carry`` is set by continue-as-new)."""

    task: SwarmTask
    tuning: dict[str, float] = Field(
        default_factory=dict, description="PolicyConfig fields (SwarmConfig.policy_tuning())."
    )
    carry: SwarmCarry | None = None


class SwarmProgress(BaseModel):
    """The ``progress`` query: where a running swarm is."""

    swarm_id: str
    behavior: SwarmBehavior
    partitions: int
    completed: int
    failed: int
    in_flight: int
    pending: int
    items_total: int
    items_done: int
    convergence: float
    iterations: int
    elapsed_ms: float
    runs: int
    rows_rejected: int = 0


SWARM_BATCH = "orchestration.swarm_batch"
"""The activity type of a swarm assignment; every agent has it (``activities.swarm_batch``)."""


class SwarmBatch(BaseModel):
    """``ActionRequest.data`` of a swarm assignment."""

    action: str
    partitions: list[dict[str, Any]] = Field(min_length=1)
    dataset: DatasetRef | None = Field(
        default=None, description="The partitions' rows are read from this dataset."
    )


class SwarmBatchResult(BaseModel):
    """Partial results and errors by partition id, the rows each rejected, and the agent's
    busy time, in all and per partition (FORAGING learns each class's yield from it)."""

    results: dict[str, Any] = Field(default_factory=dict)
    errors: dict[str, str] = Field(default_factory=dict)
    rejected: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    busy_ms: float = 0.0
    partition_ms: dict[str, float] = Field(default_factory=dict)
