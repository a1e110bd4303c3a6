"""What a pipeline takes and returns (``PipelineWorkflow``, ``Pipeline.execute``).

A pipeline is a list of stages run in order; each stage's output is the next stage's input
(the first stage gets the pipeline's input; a skipped stage passes its input on). A stage
calls agent actions (``AgentRef``: agent id and action) in one of five modes:

- ``SEQUENTIAL``: the agents in turn, each one's output the next one's input;
- ``PARALLEL``: all agents at once on the same input; the output maps each agent (``agent_id``
  or the capability, or ``<that>.action`` when an agent appears twice) to its output;
- ``CONDITIONAL``: the first agent whose ``condition`` holds (an agent without one is the
  default branch); none holds: the stage is skipped;
- ``LOOP``: the agents in turn, again and again, each round's output the next round's input,
  until ``until`` holds for the output or ``max_iterations`` rounds ran;
- ``MAP_REDUCE``: the input list (or the list at ``map_field`` of the input) is split into
  contiguous chunks, one per agent (or of ``chunk_size`` items, dealt round robin), each agent
  gets ``{"items": [...], "chunk": i, "of": n}``; the partial outputs are reduced with
  ``reducer``: ``sum``, ``count``, ``min``, ``max``, ``concat``, ``merge`` (see
  ``workflows/reducers.py``) or ``agent:<agent_id>.<action>``, which receives
  ``{"partials": [...]}`` in chunk order.

Conditions (a stage's ``conditions``, a branch's ``condition``, a loop's ``until``) are safe
expressions (:mod:`orchestration.core.expressions`, as in route rules) over the names
``input`` (the stage's input), ``output`` (the latest output: ``until`` only), ``outputs``
(finished stages' outputs by name) and ``iteration``. A stage whose conditions are not all
true is skipped.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from orchestration.core.exceptions import ConditionError
from orchestration.core.expressions import compile_condition
from orchestration.core.retry import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, RetrySpec
from orchestration.core.settings import RouteConfig
from orchestration.core.validation import AgentId, CallEndpoint, Name
from workflows.operations_models import Incident, InterventionRecord
from workflows.reducers import REDUCERS
from workflows.routing_models import Routable

__all__ = [
    "CONDITION_NAMES",
    "TRANSFORM_ACTIVITY",
    "AgentRef",
    "ErrorHandling",
    "ExecutionMode",
    "PipelineConfig",
    "PipelineExecution",
    "PipelineInput",
    "PipelineStage",
    "PipelineStatus",
    "StageResult",
    "StageStatus",
    "TransformRef",
    "TransformRequest",
]

CONDITION_NAMES = ("input", "output", "outputs", "iteration")
Condition = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class ExecutionMode(StrEnum):
    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"
    CONDITIONAL = "conditional"
    LOOP = "loop"
    MAP_REDUCE = "map_reduce"


class ErrorHandling(StrEnum):
    FAIL_FAST = "fail_fast"
    """A failed stage fails the pipeline (naming the stage)."""
    CONTINUE = "continue"
    """A failed stage is recorded and the pipeline goes on with its input."""


class PipelineStatus(StrEnum):
    RUNNING = "RUNNING"
    NEEDS_INTERVENTION = "NEEDS_INTERVENTION"
    """Parked: a stage failed under FAIL_FAST; ``resolve`` retries or skips it."""
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


def _check_condition(source: str | None, field: str) -> None:
    if source is None:
        return
    try:
        compile_condition(source, allowed_names=CONDITION_NAMES)
    except ConditionError as exc:  # it says why; name the field too
        raise ValueError(f"{field}: {exc}") from None


class AgentRef(Routable):
    """One agent action a stage calls; ``condition`` picks CONDITIONAL branches. The agent is
    ``agent_id``, or one found by ``capability`` for each call (routed, see
    :class:`workflows.routing_models.Routable`; a MAP_REDUCE stage's chunks are spread over
    the agents found, round robin unless ``strategy`` says otherwise)."""

    model_config = ConfigDict(extra="forbid")

    agent_id: AgentId | None = Field(default=None, validate_default=True)
    action: Name
    condition: Condition | None = None
    endpoint: CallEndpoint | None = None
    """For an agent by id: ``temporal://<queue>`` or ``kafka://<inbox>`` when its calls go
    elsewhere than the task queue of its id."""

    @model_validator(mode="after")
    def _condition(self) -> AgentRef:
        _check_condition(self.condition, "condition")
        return self

    @property
    def name(self) -> str:
        """The agent id, or the capability of a routed call (how outputs are keyed)."""
        return self.agent_id or str(self.capability)

    @property
    def key(self) -> str:
        return f"{self.name}.{self.action}"


class TransformRef(BaseModel):
    """A named transform (registered in the worker, see ``activities/transforms.py``)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    params: dict[str, Any] = Field(default_factory=dict)


class PipelineStage(BaseModel):
    """The quick reference's ``PipelineStage`` (see the module docstring for the modes)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    agents: list[AgentRef] = Field(default_factory=list, max_length=100)
    mode: ExecutionMode = ExecutionMode.SEQUENTIAL
    conditions: list[Condition] = Field(default_factory=list, max_length=20)
    retry_policy: RetrySpec = Field(default_factory=RetrySpec)
    timeout_ms: int = Field(default=60_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    transform: TransformRef | None = None
    skip_on_error: bool = False
    until: Condition | None = None
    max_iterations: int = Field(default=10, ge=1, le=1000)
    map_field: Name | None = None
    chunk_size: int | None = Field(default=None, ge=1, le=1_000_000)
    reducer: str = "concat"

    @model_validator(mode="after")
    def _consistent(self) -> PipelineStage:
        for index, condition in enumerate(self.conditions):
            _check_condition(condition, f"conditions[{index}]")
        _check_condition(self.until, "until")
        if not self.agents and self.transform is None:
            raise ValueError("a stage needs agents, a transform, or both")
        if self.mode is not ExecutionMode.LOOP and self.until is not None:
            raise ValueError("until belongs to LOOP stages")
        if self.mode is ExecutionMode.MAP_REDUCE:
            if not self.agents:
                raise ValueError("a MAP_REDUCE stage needs at least one agent")
            if not self.reducer.startswith("agent:") and self.reducer not in REDUCERS:
                raise ValueError(
                    f"unknown reducer {self.reducer!r}: use {', '.join(sorted(REDUCERS))} or "
                    "agent:<agent_id>.<action>"
                )
            if self.reducer.startswith("agent:") and "." not in self.reducer[6:]:
                raise ValueError("an agent reducer is written agent:<agent_id>.<action>")
        keys = [a.key for a in self.agents]
        if self.mode is ExecutionMode.PARALLEL and len(set(keys)) != len(keys):
            raise ValueError("a PARALLEL stage calls each agent action once")
        return self


def _execution_id() -> str:
    return f"pipeline-{uuid.uuid4().hex[:12]}"


class PipelineConfig(BaseModel):
    """The quick reference's ``PipelineConfig``."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    stages: list[PipelineStage] = Field(min_length=1, max_length=200)
    global_timeout_ms: int = Field(default=600_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    error_handling: ErrorHandling = ErrorHandling.FAIL_FAST
    stage_start_timeout_ms: int = Field(
        default=180_000,
        ge=MIN_TIMEOUT_MS,
        le=MAX_TIMEOUT_MS,
        description="A stage's call nobody picks up within this long fails the stage "
        "(no worker polls the agent's task queue).",
    )

    @model_validator(mode="after")
    def _unique(self) -> PipelineConfig:
        names = [s.name for s in self.stages]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"stage names repeated: {', '.join(twice)}")
        return self


class PipelineInput(BaseModel):
    """``PipelineWorkflow``'s one argument (startable with the temporal CLI as JSON)."""

    config: PipelineConfig
    input: Any = None
    execution_id: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,199}$")
    ] = Field(default_factory=_execution_id)
    routing: RouteConfig = Field(default_factory=RouteConfig)
    """How agents named by capability are routed (``ORCH_ROUTE_*`` of the client)."""


class StageResult(BaseModel):
    """One stage's outcome."""

    name: str
    status: StageStatus = StageStatus.PENDING
    output: Any = None
    error: str | None = None
    duration_ms: float | None = None
    iterations: int = 0
    calls: int = 0
    reason: str | None = None
    """Why it was skipped (conditions false, no branch, skip_on_error)."""


class PipelineExecution(BaseModel):
    """A pipeline run: status, every stage's result, and the final output."""

    execution_id: str
    name: str
    status: PipelineStatus = PipelineStatus.RUNNING
    stages: list[StageResult] = Field(default_factory=list)
    output: Any = None
    errors: list[str] = Field(default_factory=list)
    failed_stage: str | None = None
    duration_ms: float | None = None
    incidents: list[Incident] = Field(default_factory=list)
    """The stage waiting for an operator's ``resolve`` now (parked)."""
    interventions: list[InterventionRecord] = Field(default_factory=list)
    """Every operator's resolution, in order."""

    def stage(self, name: str) -> StageResult:
        return next(s for s in self.stages if s.name == name)


TRANSFORM_ACTIVITY = "orchestration.transform"
"""The activity type of a stage's transform, run on the orchestration worker
(``activities.transforms``)."""


class TransformRequest(BaseModel):
    """What the transform activity receives: the transform's name, its params and the value."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    value: Any = None
