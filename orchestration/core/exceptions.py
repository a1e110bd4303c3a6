"""The one error hierarchy of GreenLang Orchestration.

Every error the library raises on purpose derives from :class:`OrchestrationError`.
Subclasses keep their data on read-only attributes and say whether retrying can help
(``retriable``), so callers test a flag instead of writing long ``isinstance`` chains.
Every error a caller may catch is defined here; the few that stay beside their code
(``ScatterGatherError``, ``ReducerError``, ``SourceError``, ``SchedulingError``) derive
from these. ``orchestration.exceptions`` re-exports this module (the quick reference's
import path)::

    OrchestrationError                      retriable: a flag, not a type
    ├── ConfigurationError                  .setting
    ├── ValidationError (ValueError)        .errors: [{"field", "problem"}]
    │   ├── ConditionError (RoutingError)   a condition refused (route rule, pipeline)
    │   ├── TemplateError                   a message lacks a workflow id template's field
    │   └── RequestRefusedError             an approve/reject/resolve the workflow refused
    ├── OrchestrationTimeoutError (asyncio.TimeoutError)   .timeout_ms
    │   └── RequestTimeoutError (MessageBusError)
    ├── StackError                          .detail (for --verbose)
    │   └── PortInUseError (ConfigurationError)   .port, .setting, .busy
    ├── AgentError                          .agent_id
    ├── MessageBusError
    │   ├── RequestFailedError              .reply: the agent's ERROR message
    │   └── DecodeError                     a record that is not a valid message
    ├── RoutingError
    │   ├── ConditionError
    │   └── AggregationError                replies that could not be aggregated
    ├── RegistryError
    │   ├── AgentNotFoundError (LookupError)   .agent_id
    │   └── DatabaseUnavailableError        .url (password hidden); retriable
    ├── LedgerConflictError                 .key; retriable
    ├── SwarmError
    │   └── SwarmNotConvergedError          .result
    ├── PipelineError
    ├── ScheduleError                       a schedule is missing, or exists already
    └── SagaError                           .execution, .details
        ├── SagaTimeoutError (asyncio.TimeoutError)
        └── SagaCompensationError           .compensated_steps, .uncompensated_steps,
                                            .resolve_command (a parked saga)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Self

__all__ = [
    "AgentError",
    "AgentNotFoundError",
    "AggregationError",
    "ConditionError",
    "ConfigurationError",
    "DatabaseUnavailableError",
    "DecodeError",
    "LedgerConflictError",
    "MessageBusError",
    "OrchestrationError",
    "OrchestrationTimeoutError",
    "PipelineError",
    "PortInUseError",
    "RegistryError",
    "RequestFailedError",
    "RequestRefusedError",
    "RequestTimeoutError",
    "RoutingError",
    "SagaCompensationError",
    "SagaError",
    "SagaTimeoutError",
    "ScheduleError",
    "StackError",
    "SwarmError",
    "SwarmNotConvergedError",
    "TemplateError",
    "ValidationError",
]


class OrchestrationError(Exception):
    """Root of every error raised by this library.

    Attributes:
        retriable: True when the same call may succeed if tried again later.
    """

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigurationError(OrchestrationError):
    """A setting is missing or has a value that cannot work.

    Attributes:
        setting: the environment variable (or field) to change, e.g. ``ORCH_TEMPORAL_ADDRESS``.
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self._setting = setting

    @property
    def setting(self) -> str | None:
        return self._setting


class ValidationError(OrchestrationError, ValueError):
    """User input was rejected before anything ran.

    Attributes:
        errors: one entry per problem, each ``{"field": ..., "problem": ...}``.
    """

    def __init__(self, message: str, *, errors: Sequence[Mapping[str, str]] = ()) -> None:
        super().__init__(message)
        self._errors = tuple(dict(e) for e in errors)

    @classmethod
    def about(cls, field: str, problem: str, *, message: str | None = None) -> Self:
        """The error for one field: ``"<field> <problem>"`` (or ``message``), and
        ``errors`` naming the field and the problem."""
        return cls(message or f"{field} {problem}", errors=[{"field": field, "problem": problem}])

    @property
    def errors(self) -> tuple[dict[str, str], ...]:
        return self._errors


class OrchestrationTimeoutError(OrchestrationError, asyncio.TimeoutError):
    """An operation ran past its deadline. It is also an ``asyncio.TimeoutError``.

    Attributes:
        timeout_ms: the deadline that was exceeded, in milliseconds.
    """

    retriable = True

    def __init__(self, message: str, *, timeout_ms: float | None = None) -> None:
        super().__init__(message)
        self._timeout_ms = timeout_ms

    @property
    def timeout_ms(self) -> float | None:
        return self._timeout_ms


class StackError(OrchestrationError):
    """The embedded stack could not start, one of its parts died, or a server of it (Temporal)
    cannot be reached.

    Attributes:
        detail: the underlying error as its library said it, for ``--verbose`` (the message
            says it in one human line).
    """

    def __init__(
        self, message: str, *, retriable: bool | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message, retriable=retriable)
        self._detail = detail

    @property
    def detail(self) -> str | None:
        return self._detail


class PortInUseError(StackError, ConfigurationError):
    """Ports a server needs are already taken (a configuration problem: exit code 2).

    Attributes:
        port: the (first) port number.
        setting: the environment variable that moves it.
        busy: every taken port as ``(port, setting, part)``, the first one included.
    """

    def __init__(
        self,
        port: int,
        setting: str,
        *,
        part: str,
        also: Sequence[tuple[int, str, str]] = (),
    ) -> None:
        busy = ((port, setting, part), *also)
        if not also:
            message = (
                f"port {port} needed by {part} is already in use: set {setting} to a free port "
                f"or stop the process listening on {port}"
            )
        else:
            listed = ", ".join(f"{p} ({what}, {name})" for p, name, what in busy)
            message = (
                f"{len(busy)} ports the stack needs are already in use: {listed}; set each "
                "setting to a free port or stop the processes listening there"
            )
        ConfigurationError.__init__(self, message, setting=setting)
        self._detail = None
        self._port = port
        self._busy = busy

    @property
    def port(self) -> int:
        return self._port

    @property
    def setting(self) -> str:
        return self._busy[0][1]

    @property
    def busy(self) -> tuple[tuple[int, str, str], ...]:
        return self._busy


class AgentError(OrchestrationError):
    """An agent was declared wrongly or one of its actions failed.

    Attributes:
        agent_id: the agent concerned, when known.
    """

    def __init__(self, message: str, *, agent_id: str | None = None, retriable: bool = False):
        super().__init__(message, retriable=retriable)
        self._agent_id = agent_id

    @property
    def agent_id(self) -> str | None:
        return self._agent_id


class TemplateError(ValidationError):
    """A message lacks a field its bridge route's workflow id template needs."""


class RequestRefusedError(ValidationError):
    """An operator's request (approve, reject, resolve) was refused by the workflow's
    validator before anything was recorded: the message says why (not awaiting it, not an
    approver, an action that does not fit)."""


class MessageBusError(OrchestrationError):
    """Publishing, consuming or replying over the message bus failed."""


class RequestTimeoutError(MessageBusError, OrchestrationTimeoutError):
    """No reply came within the timeout; also a ``TimeoutError`` (retriable).

    Attributes:
        timeout_ms: the timeout that passed.
    """

    retriable = True


class RequestFailedError(MessageBusError):
    """The agent answered with an ERROR reply (its handler failed on the request).

    Attributes:
        reply: the ERROR ``Message``; ``reply.payload`` holds ``error``, ``error_type`` and
            ``retriable`` (False when the agent says asking again cannot help).
        retriable: the reply's ``retriable``.
    """

    def __init__(self, reply: Any) -> None:
        error = reply.payload.get("error", "unknown error")
        super().__init__(
            f"agent {reply.sender_id} failed the request: {error}",
            retriable=reply.payload.get("retriable") is True,
        )
        self._reply = reply

    @property
    def reply(self) -> Any:
        return self._reply


class DecodeError(MessageBusError):
    """A record's value is not a valid message (too large, bad JSON, or invalid fields)."""


class RoutingError(OrchestrationError):
    """A route rule was refused or no target could be chosen."""


class ConditionError(RoutingError, ValidationError):
    """A condition was refused when its route rule or pipeline was defined.

    A ``RoutingError`` (a refused route rule) and a ``ValidationError`` (refused input,
    ``errors`` naming the ``condition`` field) at once.
    """


class AggregationError(RoutingError):
    """The replies could not be aggregated: there were none, or none had a usable field."""


class RegistryError(OrchestrationError):
    """The agent registry refused a request or could not be reached."""


class AgentNotFoundError(RegistryError, LookupError):
    """No agent with this id is registered (never was, deregistered, or evicted as silent).

    An agent that gets this in reply to a heartbeat should register again. It is also a
    ``LookupError``.

    Attributes:
        agent_id: the id that was looked up.
    """

    def __init__(self, agent_id: str) -> None:
        super().__init__(
            f"agent {agent_id!r} is not registered: register it first "
            "(agents silent past the deregistration timeout are removed and must re-register)"
        )
        self._agent_id = agent_id

    @property
    def agent_id(self) -> str:
        return self._agent_id


class DatabaseUnavailableError(RegistryError):
    """The database could not be reached or refused the connection; retrying may help.

    Attributes:
        url: the database URL with its password hidden.
    """

    retriable = True

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self._url = url

    @property
    def url(self) -> str:
        return self._url


class LedgerConflictError(OrchestrationError):
    """A concurrent run recorded the same idempotency key first; this run was rolled back.

    Retrying is safe: the retry sees the key as done.

    Attributes:
        key: the idempotency key.
    """

    retriable = True

    def __init__(self, key: str) -> None:
        super().__init__(
            f"another run recorded idempotency key {key!r} first and this run was rolled back: "
            "retry to read its result"
        )
        self._key = key

    @property
    def key(self) -> str:
        return self._key


class SwarmError(OrchestrationError):
    """A swarm deployment could not run or did not converge."""


class SwarmNotConvergedError(SwarmError):
    """The swarm ended below its convergence threshold.

    Attributes:
        result: what ``deploy`` would have returned (``convergence``, ``partitions_failed``,
            ``errors``, per-agent statistics...), with ``result["result"]`` None.
    """

    def __init__(self, message: str, result: Mapping[str, Any]) -> None:
        super().__init__(message)
        self._result = dict(result)

    @property
    def result(self) -> dict[str, Any]:
        return self._result


class PipelineError(OrchestrationError):
    """A pipeline could not be started or found."""


class ScheduleError(OrchestrationError):
    """A schedule could not be created (its id is taken) or found."""


class SagaError(OrchestrationError):
    """A saga failed; its completed steps were compensated (see ``execution``).

    Attributes:
        execution: the saga's ``SagaExecution`` (state, steps, errors, timings), when known.
        details: the same as a JSON-friendly dict.
    """

    def __init__(
        self,
        message: str,
        *,
        execution: Any = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self._execution = execution
        self._details = dict(details or {})

    @property
    def execution(self) -> Any:
        return self._execution

    @property
    def details(self) -> dict[str, Any]:
        return self._details


class SagaTimeoutError(SagaError, asyncio.TimeoutError):
    """The saga ran past its overall timeout before its pivot; it was compensated.

    It is also an ``asyncio.TimeoutError`` (the quick reference catches that).
    """

    retriable = True


class SagaCompensationError(SagaError):
    """Manual intervention is needed: a compensation still failed after its retries, or a
    step after the pivot can never succeed.

    A saga started since repair exists is *parked* (``execution.state`` NEEDS_INTERVENTION):
    it stays open and ``resolve`` continues it; ``resolve_command`` says how.

    Attributes:
        compensated_steps: steps whose compensation completed.
        uncompensated_steps: steps whose compensation failed or never ran.
        resolve_command: the ``orchestration saga resolve ...`` that continues a parked saga.
    """

    def __init__(
        self,
        message: str,
        *,
        compensated_steps: Sequence[str] = (),
        uncompensated_steps: Sequence[str] = (),
        execution: Any = None,
        details: Mapping[str, Any] | None = None,
        resolve_command: str | None = None,
    ) -> None:
        super().__init__(message, execution=execution, details=details)
        self._compensated = tuple(compensated_steps)
        self._uncompensated = tuple(uncompensated_steps)
        self._resolve_command = resolve_command

    @property
    def resolve_command(self) -> str | None:
        return self._resolve_command

    @property
    def compensated_steps(self) -> tuple[str, ...]:
        return self._compensated

    @property
    def uncompensated_steps(self) -> tuple[str, ...]:
        return self._uncompensated
