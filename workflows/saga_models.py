"""Saga definitions, options, and the execution record: JSON-friendly pydantic models.

A saga is a DAG of steps. Each step runs action ``action`` on agent ``agent_id``, or, with
an ``approval``, waits for a person to approve or reject it; if a later step fails before
the pivot step completed, completed steps are undone by their ``compensation`` actions in
the order the transaction's ``compensation_strategy`` says.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from orchestration.core.retry import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, RetrySpec
from orchestration.core.settings import RouteConfig, SagaConfig
from orchestration.core.validation import AgentId, CallEndpoint, Name
from workflows.operations_models import (
    Incident,
    InterventionRecord,
    Note,
    PersonName,
    RequestedBy,
)
from workflows.routing_models import ROUTING_FIELDS, Routable

__all__ = [
    "SAGA_EVENTS_TOPIC",
    "SAGA_NOTICE_ACTIVITY",
    "Approval",
    "ApprovalDecision",
    "ApprovalRecord",
    "ApprovalTimeout",
    "CompensationStrategy",
    "PendingApproval",
    "SagaExecution",
    "SagaInput",
    "SagaNotice",
    "SagaState",
    "SagaStep",
    "SagaTransaction",
    "StepRecord",
    "StepState",
    "find_cycle",
]

StepName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")]
MAX_STEPS = 500
DAY_MS = 24 * 3600 * 1000


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
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    """An approval step waits for a person (other steps may run meanwhile)."""
    NEEDS_INTERVENTION = "NEEDS_INTERVENTION"
    """Parked: a call failed where nothing can be undone by itself; ``resolve`` goes on."""
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"
    """A compensation failed: manual intervention is needed (sagas started before repair
    existed; newer ones park in NEEDS_INTERVENTION instead)."""
    ABORTED = "ABORTED"
    """Cancelled; completed steps were compensated."""


class StepState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"
    """An operator resolved its failure with ``skip``: it counts as done for its dependents."""
    FAILED = "FAILED"
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    NOT_RUN = "NOT_RUN"


class ApprovalTimeout(StrEnum):
    """What an approval nobody decided within its ``timeout_ms`` does."""

    REJECT = "reject"
    """Count as rejected: the step fails, and the saga compensates (before its pivot)."""
    INTERVENE = "intervene"
    """Park the saga (NEEDS_INTERVENTION): approve, reject, or ``resolve`` retry / skip."""


class Approval(BaseModel):
    """A person's sign-off: the step completes when one of ``approvers`` approves it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvers: list[PersonName] = Field(min_length=1, max_length=100)
    timeout_ms: int = Field(default=7 * DAY_MS, ge=MIN_TIMEOUT_MS, le=365 * DAY_MS)
    """How long to wait for a decision (default 7 days)."""
    on_timeout: ApprovalTimeout = ApprovalTimeout.REJECT


class SagaStep(Routable):
    """One step: ``action`` on agent ``agent_id``, undone by ``compensation`` on the same agent;
    or on an agent found by ``capability`` (routed, see :class:`workflows.routing_models.Route`;
    its compensation runs on the agent that completed it); or, with ``approval`` (and no
    agent), a person's sign-off.

    Both ``SagaStep(name="a", agent_id="agent-1", action="act")`` and the positional
    ``SagaStep("a", "agent-1", "act", compensation="undo")`` work, and
    ``SagaStep("calculate", capability="carbon_calculation", action="calculate",
    version=">=2,<3", location="eu-west-1", strategy="consistent_hash", routing_key="acme")``
    and ``SagaStep("sign_off", approval=Approval(approvers=["cfo@acme.example"]))``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    _AGENT_ALTERNATIVE: ClassVar[str] = ", or an approval"

    name: StepName
    approval: Approval | None = None
    agent_id: AgentId | None = Field(default=None, validate_default=True)
    action: Name | None = Field(default=None, validate_default=True)
    compensation: Name | None = None
    timeout_ms: int | None = Field(default=None, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    retry_policy: RetrySpec = Field(default_factory=RetrySpec)
    depends_on: list[StepName] = Field(default_factory=list, max_length=MAX_STEPS)
    is_pivot: bool = False
    endpoint: CallEndpoint | None = None

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

    @classmethod
    def agent_needed(cls, data: dict[str, Any]) -> bool:
        return data.get("approval") is None

    @field_validator("action")
    @classmethod
    def _required_without_an_approval(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("approval") is None:
            raise PydanticCustomError("missing", "Field required (or give the step an approval)")
        return value

    def routing_subject(self) -> str:
        return f"step {self.name!r}: "

    @model_validator(mode="after")
    def _an_approval_has_no_agent(self) -> SagaStep:
        if self.approval is not None:
            taken = [
                name
                for name in (
                    "capability",
                    "agent_id",
                    "action",
                    "compensation",
                    "endpoint",
                    "timeout_ms",
                    *ROUTING_FIELDS,
                )
                if getattr(self, name) is not None
            ]
            if taken:
                raise ValueError(
                    f"step {self.name!r} is an approval step: it takes no {', '.join(taken)} "
                    "(a person decides it; its approval has its own timeout_ms)"
                )
        return self

    @property
    def target(self) -> str:
        """What runs the step, as summaries show it: ``agent.action``, or
        ``approval by cfo@acme.example``."""
        if self.approval is not None:
            return f"approval by {', '.join(self.approval.approvers)}"
        if self.capability is not None:
            return f"[{self.capability}].{self.action}"
        return f"{self.agent_id}.{self.action}"


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
    priority: int | None = Field(default=None, ge=1, le=5)
    """Temporal task priority of every call the saga makes: 1 is the most urgent, 5 the
    least (None: the server's default, 3), so an urgent saga is not stuck behind a backlog
    of other work on the same agents."""
    fairness_key: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    """Calls of one fairness key (e.g. a tenant) share an agent's queue fairly with others."""
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
    routing: RouteConfig = Field(default_factory=RouteConfig)
    """How steps routed by capability are routed (``ORCH_ROUTE_*`` of the client)."""
    events: bool = False
    """Publish ``saga.approval_requested`` and ``saga.intervention_needed`` to ``saga.events``
    through the worker's bus (``SagaOrchestrator(bus)`` sets it)."""


SAGA_EVENTS_TOPIC = "saga.events"
"""Where saga lifecycle events and notices are published."""
SAGA_NOTICE_ACTIVITY = "orchestration.saga_notice"
"""The activity (on the orchestration worker's task queue) that publishes a ``SagaNotice``."""


class SagaNotice(BaseModel):
    """What a saga tells people through the bus: an approval or an operator is needed."""

    event: str
    """``saga.approval_requested`` or ``saga.intervention_needed``."""
    transaction_id: str
    name: str
    step: str
    reason: str


class ApprovalDecision(RequestedBy):
    """The argument of the ``approve`` and ``reject`` updates."""

    step: StepName
    approver: PersonName
    note: Note | None = None
    """``approve``: a comment; ``reject``: the reason (required)."""


class ApprovalRecord(BaseModel):
    """A decision on an approval step: in the status query and the history."""

    step: str
    decision: str
    """``approved``, ``rejected`` or ``timed_out``."""
    approver: str | None = None
    note: str | None = None
    identity: str | None = None
    at: str


class PendingApproval(BaseModel):
    """An approval step waiting for a decision."""

    step: str
    approvers: list[str]
    since: str
    until: str
    """When its ``timeout_ms`` passes (workflow time, ISO 8601)."""
    on_timeout: ApprovalTimeout


class StepRecord(BaseModel):
    """What happened to one step. Times are workflow times (ISO 8601)."""

    name: str
    state: StepState = StepState.PENDING
    agent_id: str | None = None
    """None for an approval step."""
    action: str | None = None
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
    """True while the saga is parked (NEEDS_INTERVENTION), and when it ended FAILED."""
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    """Approval steps waiting for a decision now."""
    incidents: list[Incident] = Field(default_factory=list)
    """What waits for an operator's ``resolve`` now."""
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    """Every decision on an approval step, in order."""
    interventions: list[InterventionRecord] = Field(default_factory=list)
    """Every operator's resolution, in order."""
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
