"""The ``orchestration`` command.

Errors are one line on stderr, saying what to change; exit codes: 0 ok, 1 failure,
2 bad configuration or usage, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import pydantic
import typer
from rich.console import Console

from orchestration.exceptions import ConfigurationError, OrchestrationError
from orchestration.settings import Settings, get_settings

app = typer.Typer(
    name="orchestration",
    help="GreenLang Orchestration: durable agent orchestration on Temporal and Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
registry_app = typer.Typer(help="The agent registry service.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
swarm_app = typer.Typer(help="Swarm deployments.", no_args_is_help=True)
app.add_typer(swarm_app, name="swarm")

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment, or a one-line error per bad variable."""
    try:
        return get_settings()
    except pydantic.ValidationError as exc:
        for problem in exc.errors():
            path = "_".join(str(p) for p in problem["loc"]).upper()
            err.print(f"[bold red]error:[/] ORCH_{path}: {problem['msg']}", soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine, turning library errors into one-line messages."""
    try:
        return asyncio.run(factory())
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except ConfigurationError as exc:
        fail(str(exc), EXIT_CONFIG)
    except OrchestrationError as exc:
        fail(str(exc))


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def up() -> None:
    """Start the embedded stack (Temporal, Kafka broker, database, worker) in the foreground."""
    settings = load_settings()
    setup_logging(settings)
    from orchestration.stack import run_up

    raise typer.Exit(run_async(lambda: run_up(settings)))


@app.command()
def worker() -> None:
    """Run the orchestration worker (workflows and activities) on ORCH_TASK_QUEUE."""
    settings = load_settings()
    setup_logging(settings)
    from workers.orchestration_worker import run_worker

    run_async(lambda: run_worker(settings))


@app.command()
def agent(
    spec: Annotated[str, typer.Argument(help="Where the agent is: 'package.module:attribute'.")],
) -> None:
    """Run an agent: a Temporal worker polling the agent's own task queue."""
    settings = load_settings()
    setup_logging(settings)
    from workers.agent_runtime import load_agent

    try:
        declared = load_agent(spec)
    except OrchestrationError as exc:
        fail(str(exc), EXIT_CONFIG)
    run_async(lambda: declared.run(settings))


@app.command()
def bridge(
    config: Annotated[
        Path | None,
        typer.Option(help="YAML or JSON file of bridge routes (default: ORCH_BRIDGE_CONFIG)."),
    ] = None,
) -> None:
    """Run the Kafka -> Temporal bridge: each message of a routed topic signals a workflow."""
    settings = load_settings()
    if config is not None:
        settings = settings.model_copy(
            update={"bridge": settings.bridge.model_copy(update={"config": config})}
        )
    setup_logging(settings)
    from bus.bridge_runner import run_bridge

    run_async(lambda: run_bridge(settings))


@swarm_app.command("deploy")
def swarm_deploy(
    task_file: Annotated[Path, typer.Argument(help="A SwarmTask as JSON.")],
) -> None:
    """Deploy a swarm and follow it with a progress bar; print its result as JSON."""
    settings = load_settings()
    setup_logging(settings)
    from orchestration.swarm_cli import deploy, load_task

    try:
        task = load_task(task_file)
    except OrchestrationError as exc:  # an unreadable or invalid file: a usage error
        fail(str(exc), EXIT_CONFIG)
    result = run_async(lambda: deploy(task, settings, err))
    summary = {k: v for k, v in result.items() if k not in ("agents", "errors")}
    out.print_json(data=summary)


@registry_app.command("serve")
def registry_serve() -> None:
    """Serve the registry and router HTTP API on ORCH_REGISTRY_HOST:ORCH_REGISTRY_PORT."""
    settings = load_settings()
    setup_logging(settings)
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
