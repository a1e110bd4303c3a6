"""``orchestration saga start | status | list | approve | reject | resolve | cancel``: the
work behind the commands of ``saga_app.py``.

A saga file is the JSON the temporal CLI takes for ``SagaWorkflow`` (``{"transaction": ...,
"initial_data": ...}``, e.g. ``examples/inputs/csrd_saga.json``) or a bare transaction.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowExecutionStatus

from orchestration.cli.common import Column, fitted_table, read_json_file
from orchestration.clients.saga import (
    SagaOrchestrator,
    other_actions,
    resolve_command,
    step_agents,
    what_parked,
)
from orchestration.core.exceptions import ConfigurationError
from orchestration.core.search_attributes import (
    ORCHESTRATION_NAME,
    ORCHESTRATION_STATE,
    ORCHESTRATION_TYPE,
)
from orchestration.core.settings import Settings
from orchestration.core.validation import validation_error
from workflows.operations_models import InterventionRecord, ResolveAction
from workflows.saga_models import (
    ApprovalRecord,
    SagaExecution,
    SagaState,
    SagaTransaction,
    StepState,
)

__all__ = [
    "EXIT_MANUAL_INTERVENTION",
    "EXIT_ROLLED_BACK",
    "cancel",
    "decide",
    "exit_code",
    "list_sagas",
    "load_saga",
    "resolve",
    "sagas_table",
    "show",
    "start",
    "steps_table",
]

EXIT_ROLLED_BACK = 1
"""The saga ended without completing, and every completed step was compensated."""
EXIT_MANUAL_INTERVENTION = 3
"""The saga is parked (NEEDS_INTERVENTION) or ended FAILED: somebody has to look."""

_POLL_S = 0.25
_STATE_STYLE = {
    SagaState.COMPLETED: "green",
    SagaState.COMPENSATED: "yellow",
    SagaState.ABORTED: "yellow",
    SagaState.FAILED: "bold red",
    SagaState.NEEDS_INTERVENTION: "bold red",
    SagaState.AWAITING_APPROVAL: "cyan",
    StepState.COMPLETED: "green",
    StepState.FAILED: "red",
    StepState.COMPENSATED: "yellow",
}


def load_saga(
    path: Path, *, transaction_id: str | None = None, data: str | None = None
) -> tuple[SagaTransaction, Any]:
    """The transaction and initial data of a saga file, with command-line overrides.

    Raises:
        ConfigurationError: the file cannot be read, or it or ``data`` is not JSON.
        ValidationError: not a valid saga (naming the fields); nothing was started.
    """
    document = read_json_file(path)
    wrapped = isinstance(document, dict) and "transaction" in document
    raw = document["transaction"] if wrapped else document
    initial_data = document.get("initial_data") if wrapped else None
    if data is not None:
        try:
            initial_data = json.loads(data)
        except ValueError as exc:
            raise ConfigurationError(f"--data is not valid JSON: {exc}") from None
    if transaction_id is not None and isinstance(raw, dict):
        raw = {**raw, "transaction_id": transaction_id}
    try:
        transaction = SagaTransaction.model_validate(raw)
    except pydantic.ValidationError as exc:
        where = "transaction" if wrapped else "saga"
        raise validation_error(f"saga in {path}", exc, where) from None
    return transaction, initial_data


async def start(
    transaction: SagaTransaction,
    initial_data: Any,
    settings: Settings,
    console: Console,
    *,
    wait: bool,
    check: bool = True,
) -> SagaExecution | None:
    """Start the saga; with ``wait``, follow it to its end and return its execution.

    Raises:
        ConfigurationError: with ``check``, a step's agent has no worker polling its task
            queue (nothing was started).
    """
    sagas = SagaOrchestrator(settings=settings)
    await sagas.initialize()
    if check:
        missing = await sagas.unpolled_agents(step_agents(transaction))
        if missing:
            listed = "; ".join(
                f"{field} {agent} (task queue {queue})" for field, agent, queue in missing
            )
            raise ConfigurationError(
                f"no worker polls the task queue of {listed}: start the agent, fix its id, or "
                "pass --no-check to start anyway (the step then fails after "
                f"ORCH_SAGA_STEP_START_TIMEOUT_MS, {settings.saga.step_start_timeout_ms // 1000} s)"
            )
    existing = await sagas.exists(transaction.transaction_id)
    handle = await sagas.start(transaction, initial_data, check_agents=False)
    if existing:
        console.print(
            f"saga [bold]{transaction.transaction_id}[/] already exists: following it, not "
            "starting it again (a transaction id runs once)"
        )
    else:
        console.print(
            f"saga [bold]{transaction.transaction_id}[/] ({transaction.name}) started, "
            f"{len(transaction.steps)} steps"
        )
    console.print(f"Web UI: {settings.temporal.web_ui(handle.id)}", soft_wrap=True)
    if not wait:
        return None
    result = asyncio.ensure_future(handle.result())
    with console.status("running...") as spinner:
        while not result.done():
            execution = await sagas.get_execution_status(transaction.transaction_id)
            if execution.state == SagaState.NEEDS_INTERVENTION:
                result.cancel()  # parked: an operator acts; `saga status` follows it further
                return execution
            spinner.update(_progress_line(execution))
            await asyncio.wait({result}, timeout=_POLL_S)
    result.exception()  # retrieved: the failure is read back as the execution below
    return await sagas.get_execution_status(transaction.transaction_id)


def _progress_line(execution: SagaExecution) -> str:
    done = sum(1 for s in execution.steps.values() if s.state == StepState.COMPLETED)
    running = [s.name for s in execution.steps.values() if s.state == StepState.RUNNING]
    now = f", running {', '.join(running)}" if running else ""
    awaited = "".join(
        f"; {p.step} awaits approval (orchestration saga approve {execution.transaction_id} "
        f"{p.step} --by NAME)"
        for p in execution.pending_approvals
    )
    return f"{execution.state.value}: {done}/{len(execution.steps)} steps completed{now}{awaited}"


async def decide(
    transaction_id: str,
    step: str,
    settings: Settings,
    *,
    approve: bool,
    by: str,
    note: str | None,
) -> ApprovalRecord:
    """Approve (``approve``) or reject an approval step.

    Raises:
        RequestRefusedError: the saga's validator refused it (nothing was recorded).
        SagaError: no such saga.
    """
    sagas = SagaOrchestrator(settings=settings)
    await sagas.initialize()
    if approve:
        return await sagas.approve(transaction_id, step, approver=by, comment=note)
    return await sagas.reject(transaction_id, step, approver=by, reason=note or "")


async def resolve(
    transaction_id: str,
    step: str,
    action: ResolveAction,
    settings: Settings,
    *,
    by: str,
    reason: str,
    data: Any,
) -> InterventionRecord:
    """Resolve a parked step (see ``SagaOrchestrator.resolve``)."""
    sagas = SagaOrchestrator(settings=settings)
    await sagas.initialize()
    return await sagas.resolve(transaction_id, step, action, by=by, reason=reason, data=data)


async def cancel(transaction_id: str, settings: Settings) -> None:
    """Ask the saga to stop (it compensates before its pivot and ends ABORTED)."""
    sagas = SagaOrchestrator(settings=settings)
    await sagas.initialize()
    await sagas.cancel(transaction_id)


async def show(transaction_id: str, settings: Settings) -> SagaExecution:
    """The saga's execution, live or finished.

    Raises:
        SagaError: there is no saga with that id.
    """
    sagas = SagaOrchestrator(settings=settings)
    await sagas.initialize()
    return await sagas.get_execution_status(transaction_id)


def exit_code(execution: SagaExecution) -> int:
    """0 completed (or still running), 1 rolled back or aborted, 3 manual intervention."""
    if execution.state == SagaState.FAILED or execution.manual_intervention_required:
        return EXIT_MANUAL_INTERVENTION
    if execution.state in (SagaState.COMPENSATED, SagaState.ABORTED):
        return EXIT_ROLLED_BACK
    return 0


def _styled(state: str) -> str:
    style = _STATE_STYLE.get(state)  # type: ignore[call-overload]
    return f"[{style}]{state}[/]" if style else state


def steps_table(execution: SagaExecution, *, width: int = 80) -> Group:
    """One row per step (agent, action, state, time, dispatches), then what went wrong and
    what was compensated; no wider than ``width``, nothing cut."""
    steps = list(execution.steps.values())
    columns = [
        Column("step", [s.name for s in steps]),
        Column("agent", [s.agent_id or "(a person)" for s in steps], floor=12),
        Column("action", [s.action or "approval" for s in steps], drop=1),
        Column("state", [_styled(s.state.value) for s in steps], wraps=False),
        Column("ms", [_ms(s.duration_ms) for s in steps], wraps=False, right=True, drop=2),
        Column("tries", [str(s.dispatches) for s in steps], wraps=False, right=True),
    ]
    title = f"saga {execution.transaction_id} ({execution.name}): {_styled(execution.state.value)}"
    parts: list[Any] = [fitted_table(title, columns, width)]
    errors = [
        *((s.name, s.error) for s in steps if s.error),
        *(
            (f"{s.name} (compensation)", s.compensation_error)
            for s in steps
            if s.compensation_error
        ),
    ]
    if errors:
        notes = Table.grid(padding=(0, 1))
        notes.add_column(no_wrap=True)
        notes.add_column(overflow="fold")
        for name, error in errors:
            notes.add_row(f"  {name}:", Text(error))
        parts += [Text("errors:"), notes]
    if execution.compensated_steps:
        parts.append(Text(f"compensated: {', '.join(execution.compensated_steps)}"))
    parts += _awaited(execution, width)
    return Group(*parts)


def _awaited(execution: SagaExecution, width: int) -> list[Any]:
    """What the saga waits for, each with the command that gives it."""
    parts: list[Any] = []
    tx = execution.transaction_id
    for pending in execution.pending_approvals:
        parts += [
            Text(f"awaiting approval: {pending.step} by {', '.join(pending.approvers)}"),
            Text(f"  until {_shown(pending.until)} UTC, then {pending.on_timeout.value}"),
            *_command(f"orchestration saga approve {tx} {pending.step} --by NAME", width),
            *_command(
                f"orchestration saga reject {tx} {pending.step} --by NAME --reason TEXT", width
            ),
        ]
    for incident in execution.incidents:
        where = f" on {incident.agent_id}.{incident.action}" if incident.agent_id else ""
        parts += [
            Text(f"needs intervention: {what_parked(incident)}{where}"),
            Text(f"  {incident.error}"),
            *_command(resolve_command(tx, incident), width),
            Text(f"  ({other_actions(incident)} instead of --retry)"),
        ]
    return parts


def _command(command: str, width: int) -> list[Text]:
    """A command to copy, indented; too long for ``width``, continued with a backslash
    before its ``--by`` (a shell takes it as one line)."""
    if len(command) + 2 <= width or " --by " not in command:
        return [Text(f"  {command}")]
    head, tail = command.split(" --by ", 1)
    return [Text(f"  {head} \\"), Text(f"    --by {tail}")]


def _ms(duration_ms: float | None) -> str:
    return "" if duration_ms is None else f"{duration_ms:,.0f}"


async def list_sagas(
    settings: Settings, *, state: SagaState | None, name: str | None, limit: int
) -> list[dict[str, Any]]:
    """The newest sagas first, as rows; filtered by state and transaction name."""
    from orchestration.core.temporal_client import connect

    client: Client = await connect(settings)
    rows: list[dict[str, Any]] = []
    async for workflow in client.list_workflows(saga_query(state, name), limit=limit):
        attributes = workflow.typed_search_attributes
        rows.append(
            {
                "transaction_id": workflow.id,
                "name": attributes.get(ORCHESTRATION_NAME),
                "state": attributes.get(ORCHESTRATION_STATE),
                "workflow_status": _status_name(workflow.status),
                "started_at": _iso(workflow.start_time),
                "closed_at": _iso(workflow.close_time),
                "duration_ms": (workflow.close_time - workflow.start_time).total_seconds() * 1000
                if workflow.close_time is not None
                else None,
            }
        )
    return rows


def saga_query(state: SagaState | None = None, name: str | None = None) -> str:
    """The visibility query of sagas (in ``state``, named ``name``): what ``saga list`` asks
    and the Web UI link it prints."""
    clauses = [f"{ORCHESTRATION_TYPE.name} = 'saga'"]
    if state is not None:
        clauses.append(f"{ORCHESTRATION_STATE.name} = '{state.value}'")
    if name is not None:
        clauses.append(f"{ORCHESTRATION_NAME.name} = {json.dumps(name)}")
    return " AND ".join(clauses)


def _status_name(status: WorkflowExecutionStatus | None) -> str | None:
    return status.name if status is not None else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def sagas_table(rows: list[dict[str, Any]], *, width: int = 80) -> Group:
    """One row per saga, newest first, no wider than ``width`` (``--json`` has every field)."""
    columns = [
        Column("transaction id", [r["transaction_id"] for r in rows], floor=16),
        Column("name", [r["name"] or "" for r in rows], drop=2),
        Column(
            "state", [_styled(r["state"] or r["workflow_status"] or "") for r in rows], wraps=False
        ),
        Column("started (UTC)", [_shown(r["started_at"]) for r in rows], wraps=False, drop=1),
        Column("took", [_took(r["duration_ms"]) for r in rows], wraps=False, right=True),
    ]
    return fitted_table(f"{len(rows)} saga(s), newest first", columns, width)


def _shown(moment: str | None) -> str:
    return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _took(duration_ms: float | None) -> str:
    if duration_ms is None:
        return ""
    seconds = duration_ms / 1000
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
