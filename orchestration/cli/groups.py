"""The command groups ``swarm``, ``agents``, ``registry`` and ``db`` (``saga``: ``saga_app.py``).

Each command imports the module that does its work inside its function, so that
``orchestration --help`` and every other command load only what they use.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

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
from orchestration.core.exceptions import OrchestrationError, SwarmNotConvergedError
from registry.models import AgentStatus, ServiceType

__all__ = ["agents_app", "db_app", "registry_app", "swarm_app"]

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
registry_app = typer.Typer(help="The agent registry service.", no_args_is_help=True)
swarm_app = typer.Typer(help="Swarm deployments.", no_args_is_help=True)
agents_app = typer.Typer(help="Agents in the registry.", no_args_is_help=True)


@swarm_app.command("deploy")
def swarm_deploy(
    task_file: Annotated[Path, typer.Argument(help="A SwarmTask as JSON.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw result as JSON.")] = False,
) -> None:
    """Deploy a swarm and follow it with a progress bar; print a summary of its result."""
    settings = load_settings()
    setup_logging(settings)
    from orchestration.cli.swarm import deploy, load_task

    try:
        task = load_task(task_file)
    except OrchestrationError as exc:  # an unreadable or invalid file: a usage error
        fail(str(exc), EXIT_CONFIG)
    _print_result(lambda: deploy(task, settings, err), as_json)


@swarm_app.command("redrive")
def swarm_redrive(
    swarm_id: Annotated[str, typer.Argument(help="The ended swarm's id.")],
    agent: Annotated[
        list[str] | None,
        typer.Option(
            "--agent",
            help="An agent of the redrive's pool (repeat; default: the earlier swarm's agents).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw result as JSON.")] = False,
) -> None:
    """Run again only the partitions an ended swarm did not finish, reducing onto its
    result so far: once the agent is fixed, the result is the whole job's."""
    settings = load_settings()
    setup_logging(settings)
    from orchestration.cli.swarm import redrive

    _print_result(lambda: redrive(swarm_id, settings, err, agent or None), as_json)


def _print_result(run: Callable[[], Coroutine[Any, Any, dict[str, Any]]], as_json: bool) -> None:
    """Run a deploy or redrive; print its result (also of one that did not converge, then
    exit 1 with the reason)."""
    from orchestration.cli.swarm import result_table

    async def settled() -> tuple[dict[str, Any], str | None]:
        try:
            return await run(), None
        except SwarmNotConvergedError as exc:
            return exc.result, str(exc)

    result, problem = run_async(settled)
    if as_json:
        out.print_json(data=result)
    else:
        out.print(result_table(result, width=out.width))
    if problem is not None:
        fail(problem)


@swarm_app.command("status")
def swarm_status(
    swarm_id: Annotated[str, typer.Argument(help="The swarm's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where a swarm is: partitions done, failed and in flight, convergence, rounds; for an
    ended swarm that wrote one, its manifest's summary."""
    settings = load_settings()
    from orchestration.cli.swarm import manifest_table, progress_table, status

    progress, manifest = run_async(lambda: status(swarm_id, settings))
    if as_json:  # the progress, and where the manifest is
        shown = progress.model_dump(mode="json") if progress else {"swarm_id": swarm_id}
        out.print_json(data={**shown, "manifest_uri": manifest[0] if manifest else None})
        return
    if progress is None:
        out.print(f"swarm {swarm_id} has not planned its partitions yet")
    else:
        out.print(progress_table(progress, width=out.width))
    if manifest is not None:
        out.print(manifest_table(manifest[1], manifest[0], width=out.width))


@agents_app.command("list")
def agents_list(
    status: Annotated[
        AgentStatus | None, typer.Option(help="Only agents in this status.", case_sensitive=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Registered agents with their status and health."""
    settings = load_settings()
    from orchestration.cli.agents import agents_table, as_rows, list_agents

    agents = run_async(lambda: list_agents(settings, status))
    if as_json:
        out.print_json(data=as_rows(agents))
    else:
        out.print(agents_table(agents, f"{len(agents)} agent(s)", width=out.width))


@agents_app.command("discover")
def agents_discover(
    capability: Annotated[
        list[str] | None, typer.Option(help="Required capability (repeatable: all of them).")
    ] = None,
    service_type: Annotated[
        list[ServiceType] | None,
        typer.Option(help="Service type (repeatable: any of them).", case_sensitive=False),
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag (repeatable: any of them).")] = None,
    version: Annotated[
        str | None, typer.Option(help="PEP 440 version range, e.g. '>=2,<3'.")
    ] = None,
    min_health: Annotated[float, typer.Option(min=0.0, max=1.0, help="Lowest health.")] = 0.0,
    location: Annotated[str | None, typer.Option(help="Preferred location.")] = None,
    max_results: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find agents the way `registry.discover` does: best first."""
    settings = load_settings()
    from orchestration.cli.agents import agents_table, as_rows, discover

    agents = run_async(
        lambda: discover(
            settings,
            capabilities=capability or [],
            service_types=service_type or [],
            tags=tag or [],
            version=version,
            min_health=min_health,
            location=location,
            limit=max_results,
        )
    )
    if as_json:
        out.print_json(data=as_rows(agents))
    else:
        out.print(agents_table(agents, f"{len(agents)} agent(s), best first", width=out.width))


@registry_app.command("serve")
def registry_serve() -> None:
    """Serve the registry and router HTTP API on ORCH_REGISTRY_HOST:ORCH_REGISTRY_PORT."""
    settings = load_settings()
    setup_logging(settings, "orchestration-registry")
    from registry.service.serve import serve

    run_async(lambda: serve(settings))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply pending migrations to ORCH_DATABASE_URL (default: SQLite in ORCH_STATE_DIR)."""
    settings = load_settings()
    from registry.store.migrations import upgrade

    applied = run_async(lambda: upgrade(settings.database_url, revision=revision))
    if applied:
        out.print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        out.print("database is up to date")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current migration revision."""
    settings = load_settings()
    from registry.store.migrations import current_revision

    revision = run_async(lambda: current_revision(settings.database_url))
    out.print(revision or "no migrations applied")
