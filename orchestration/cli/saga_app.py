"""``orchestration saga ...``: start, follow and list sagas, and act on running ones
(approve, reject, resolve, cancel).

Each command imports the module that does its work inside its function, so that
``orchestration --help`` and every other command load only what they use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestration.cli.common import (
    EXIT_CONFIG,
    err,
    fail,
    load_settings,
    out,
    run_async,
    setup_logging,
)
from orchestration.core.exceptions import OrchestrationError
from workflows.saga_models import SagaState

__all__ = ["saga_app"]

saga_app = typer.Typer(
    help="Sagas: start one, follow it, list them; approve, reject, resolve or cancel one.",
    no_args_is_help=True,
)


@saga_app.command("start")
def saga_start(
    saga_file: Annotated[
        Path, typer.Argument(help="The saga as JSON: {transaction, initial_data} or a transaction.")
    ],
    transaction_id: Annotated[
        str | None, typer.Option("--id", help="Transaction id (default: the file's, or new).")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Initial data as JSON (default: the file's).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the saga to its end.")] = True,
    check: Annotated[
        bool,
        typer.Option(help="Refuse to start when no worker polls a step's agent's task queue."),
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the execution as JSON at the end.")
    ] = False,
) -> None:
    """Start a saga; with --wait (the default) follow it and exit by how it ended."""
    settings = load_settings()
    setup_logging(settings)
    from orchestration.cli.saga import exit_code, load_saga, start, steps_table

    try:
        transaction, initial_data = load_saga(saga_file, transaction_id=transaction_id, data=data)
    except OrchestrationError as exc:
        fail(str(exc), EXIT_CONFIG)
    execution = run_async(
        lambda: start(transaction, initial_data, settings, err, wait=wait, check=check)
    )
    if execution is not None:
        if as_json:
            out.print_json(execution.model_dump_json())
        else:
            out.print(steps_table(execution, width=out.width))
        raise typer.Exit(exit_code(execution))


@saga_app.command("status")
def saga_status(
    transaction_id: Annotated[str, typer.Argument(help="The saga's transaction id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the execution as JSON.")] = False,
) -> None:
    """A saga's state and steps, live or finished; exits by its state like `saga start`."""
    settings = load_settings()
    from orchestration.cli.saga import exit_code, show, steps_table

    execution = run_async(lambda: show(transaction_id, settings))
    if as_json:
        out.print_json(execution.model_dump_json())
    else:
        out.print(steps_table(execution, width=out.width))
        out.print(f"Web UI: {settings.temporal.web_ui(transaction_id)}", soft_wrap=True)
    raise typer.Exit(exit_code(execution))


@saga_app.command("list")
def saga_list(
    state: Annotated[
        SagaState | None, typer.Option(help="Only sagas in this state.", case_sensitive=False)
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only this transaction name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recent sagas, newest first (from Temporal's visibility store)."""
    settings = load_settings()
    from orchestration.cli.saga import list_sagas, saga_query, sagas_table

    rows = run_async(lambda: list_sagas(settings, state=state, name=name, limit=limit))
    if as_json:
        out.print_json(data=rows)
    else:
        out.print(sagas_table(rows, width=out.width))
        link = settings.temporal.web_ui(query=saga_query(state, name))
        out.print(f"Web UI: {link}", soft_wrap=True)


TransactionId = Annotated[str, typer.Argument(help="The saga's transaction id.")]
StepName = Annotated[str, typer.Argument(help="The step.")]
By = Annotated[str, typer.Option("--by", help="Who decides (recorded with your identity).")]


@saga_app.command("approve")
def saga_approve(
    transaction_id: TransactionId,
    step: StepName,
    by: By,
    comment: Annotated[str | None, typer.Option(help="A comment, kept with it.")] = None,
) -> None:
    """Approve a step awaiting approval: it completes and the saga goes on."""
    settings = load_settings()
    from orchestration.cli.saga import decide

    record = run_async(
        lambda: decide(transaction_id, step, settings, approve=True, by=by, note=comment)
    )
    out.print(f"approved: step {step} of saga {transaction_id}, by {record.approver}")


@saga_app.command("reject")
def saga_reject(
    transaction_id: TransactionId,
    step: StepName,
    by: By,
    reason: Annotated[str, typer.Option(help="Why (required).")],
) -> None:
    """Reject a step awaiting approval: it fails, and the saga compensates.

    After the saga's pivot nothing is undone: the saga parks for an operator instead.
    """
    settings = load_settings()
    from orchestration.cli.saga import decide

    record = run_async(
        lambda: decide(transaction_id, step, settings, approve=False, by=by, note=reason)
    )
    out.print(f"rejected: step {step} of saga {transaction_id}, by {record.approver}: {reason}")


@saga_app.command("resolve")
def saga_resolve(
    transaction_id: TransactionId,
    step: StepName,
    by: By,
    reason: Annotated[str, typer.Option(help="Why (required; kept with it).")],
    retry: Annotated[bool, typer.Option("--retry", help="Run the failed call again.")] = False,
    skip: Annotated[
        bool, typer.Option("--skip", help="Go on without it (a step after the pivot).")
    ] = False,
    mark_compensated: Annotated[
        bool,
        typer.Option("--mark-compensated", help="A failed compensation was undone by hand."),
    ] = False,
    data_file: Annotated[
        Path | None,
        typer.Option(help="JSON: the retried call's input, or the skipped step's output."),
    ] = None,
) -> None:
    """Continue a saga parked in NEEDS_INTERVENTION: --retry, --skip or --mark-compensated."""
    settings = load_settings()
    from orchestration.cli.resolutions import chosen_action, resolution_data
    from orchestration.cli.saga import resolve
    from workflows.operations_models import ResolveAction

    action = chosen_action(
        {
            ResolveAction.RETRY: retry,
            ResolveAction.SKIP: skip,
            ResolveAction.MARK_COMPENSATED: mark_compensated,
        }
    )
    data = resolution_data(data_file)
    run_async(
        lambda: resolve(transaction_id, step, action, settings, by=by, reason=reason, data=data)
    )
    out.print(f"resolved: step {step} of saga {transaction_id}: {action.value}, by {by}")


@saga_app.command("cancel")
def saga_cancel(transaction_id: TransactionId) -> None:
    """Cancel a saga: it compensates and ends ABORTED.

    After its pivot a saga cannot be undone: it finishes forward instead.
    """
    settings = load_settings()
    from orchestration.cli.saga import cancel

    run_async(lambda: cancel(transaction_id, settings))
    out.print(
        f"cancellation requested: saga {transaction_id} (follow it: "
        f"orchestration saga status {transaction_id})"
    )
