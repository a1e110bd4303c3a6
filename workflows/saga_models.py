"""Saga definitions, options, and the execution record: JSON-friendly pydantic models.

A saga is a DAG of steps. Each step runs action ``action`` on agent ``agent_id``; if a later
step fails before the pivot step completed, completed steps are undone by their
``compensation`` actions in the order the transaction's ``compensation_strategy`` says.
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
    field_validator,
)

from orchestration.core.retry import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, RetrySpec
from orchestration.core.settings import SagaConfig
from orchestration.core.validation import AgentId, Name

__all__ = [
    "CompensationStrategy",
    "SagaExecution",
    "SagaInput",
    "SagaState",
    "SagaStep",
    "SagaTransaction",
    "StepRecord",
    "StepState",
    "find_cycle",
]

StepName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")]
MAX_STEPS = 500


class CompensationStrategy(StrEnum):
    """How completed steps are undone when a step fails before the pivot."""

    BACKWARD = "backward"
    """One at a time, in reverse order of completion."""
    FORWARD = "forward"
    """Retry the failed step first; compensate as BACKWARD only if that is exhausted."""
    PARALLEL = "parallel"
    """All at once; every failure is collected."""
    SELECTIVE = "selective"
    """Only the steps the failed step depends on (transitively), newest first."""
    CASCADE = "cascade"
    """Reverse dependency order: a step after every completed step that depends on it."""


class SagaState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"
    """A compensation failed: manual intervention is needed."""
    ABORTED = "ABORTED"
    """Cancelled; completed steps were compensated."""


class StepState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    NOT_RUN = "NOT_RUN"


class SagaStep(BaseModel):
    """One step: ``action`` on agent ``agent_id``, undone by ``compensation`` on the same agent.

    Both ``SagaStep(name="a", agent_id="agent-1", action="act")`` and the positional
    ``SagaStep("a", "agent-1", "act", compensation="undo")`` work.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StepName
    agent_id: AgentId
    action: Name
    compensation: Name | None = None
    timeout_ms: int | None = Field(default=None, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    retry_policy: RetrySpec = Field(default_factory=RetrySpec)
    depends_on: list[StepName] = Field(default_factory=list, max_length=MAX_STEPS)
    is_pivot: bool = False
    endpoint: Annotated[str, StringConstraints(max_length=512)] | None = None

    def __init__(
        self,
        name: str | None = None,
        agent_id: str | None = None,
        action: str | None = None,
        /,
        **data: Any,
    ) -> None:
        for key, value in (("name", name), ("agent_id", agent_id), ("action", action)):
            if value is not None:
                if key in data:
                    raise TypeError(f"SagaStep got {key!r} both positionally and by keyword")
                data[key] = value
        super().__init__(**data)

    @field_validator("depends_on")
    @classmethod
    def _no_duplicate_dependencies(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


def find_cycle(steps: list[SagaStep]) -> list[str] | None:
    """A dependency cycle as ``[a, b, ..., a]``, or None. Unknown dependencies are ignored."""
    graph = {step.name: step.depends_on for step in steps}
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for root in graph:
        if colour[root] != WHITE:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                colour[node] = GREY
                path.append(node)
            deps = [d for d in graph[node] if d in graph]
            if index < len(deps):
                stack.append((node, index + 1))
                nxt = deps[index]
                if colour[nxt] == GREY:
                    return [*path[path.index(nxt) :], nxt]
                if colour[nxt] == WHITE:
                    stack.append((nxt, 0))
            else:
                colour[node] = BLACK
                path.pop()
    return None


class SagaTransaction(BaseModel):
    """A saga definition. Validated when built: nothing runs if it is invalid."""

    model_config = ConfigDict(extra="forbid")

    name: Name = "saga"
    steps: list[SagaStep] = Field(min_length=1, max_length=MAX_STEPS)
    compensation_strategy: CompensationStrategy = CompensationStrategy.BACKWARD
    timeout_ms: int | None = Field(default=None, ge=MIN_TIMEOUT_MS, le=30 * 24 * 3600 * 1000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    transaction_id: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,199}$")
    ] = Field(default_factory=lambda: f"saga-{uuid.uuid4()}")

    @field_validator("steps")
    @classmethod
    def _check_graph(cls, steps: list[SagaStep]) -> list[SagaStep]:
        names = [step.name for step in steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique; repeated: {', '.join(duplicates)}")
        known = set(names)
        for step in steps:
            unknown = [d for d in step.depends_on if d not in known]
            if unknown:
                raise ValueError(
                    f"step {step.name!r} depends on unknown step(s): {', '.join(unknown)}"
                )
            if step.name in step.depends_on:
                raise ValueError(f"step {step.name!r} depends on itself")
        cycle = find_cycle(steps)
        if cycle:
            raise ValueError(f"dependency cycle: {' -> '.join(cycle)}")
        return steps

    def step(self, name: str) -> SagaStep:
        for candidate in self.steps:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


class SagaInput(BaseModel):
    """Input of ``SagaWorkflow``; start it from the CLI with this as JSON."""

    model_config = ConfigDict(extra="forbid")

    transaction: SagaTransaction
    initial_data: Any = None
    config: SagaConfig = Field(default_factory=SagaConfig)


class StepRecord(BaseModel):
    """What happened to one step. Times are workflow times (ISO 8601)."""

    name: str
    state: StepState = StepState.PENDING
    agent_id: str
    action: str
    started_at: str | None = None
    completed_at: str | None = None
    duration_ms: float | None = None
    dispatches: int = 0
    """How many times the step was dispatched (FORWARD recovery and pivot recovery add more)."""
    error: str | None = None
    compensation_started_at: str | None = None
    compensation_completed_at: str | None = None
    compensation_error: str | None = None


class SagaExecution(BaseModel):
    """The status of a saga: the ``status`` query, and what ``execute`` attaches to errors."""

    transaction_id: str
    name: str
    state: SagaState = SagaState.PENDING
    strategy: CompensationStrategy
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    completed_steps: list[str] = Field(default_factory=list)
    """In order of completion."""
    compensated_steps: list[str] = Field(default_factory=list)
    """In order of compensation."""
    uncompensated_steps: list[str] = Field(default_factory=list)
    """Completed steps whose compensation failed or never ran because of an earlier failure."""
    committed_steps: list[str] = Field(default_factory=list)
    """Completed steps deliberately left in place (after the pivot, or outside SELECTIVE)."""
    failed_step: str | None = None
    errors: list[str] = Field(default_factory=list)
    pivot_completed: bool = False
    forward_recovery: bool = False
    """True once the pivot completed and a later failure is being retried, not compensated."""
    manual_intervention_required: bool = False
    started_at: str | None = None
    completed_at: str | None = None
    duration_ms: float | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def pending(cls, transaction_id: str, transaction: SagaTransaction) -> SagaExecution:
        """The execution of a saga that has not started running: every step PENDING."""
        return cls(
            transaction_id=transaction_id,
            name=transaction.name,
            strategy=transaction.compensation_strategy,
            steps={
                s.name: StepRecord(name=s.name, agent_id=s.agent_id, action=s.action)
                for s in transaction.steps
            },
        )
