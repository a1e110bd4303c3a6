"""The ``orchestration`` command.

Errors are one line on stderr, saying what to change. Exit codes: 0 ok, 1 failure (for
``saga start --wait`` and ``saga status``: the saga was rolled back or aborted), 2 bad
configuration or usage, 3 a saga needs manual intervention, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import pydantic
import typer
from rich.console import Console

from orchestration.core.exceptions import ConfigurationError, OrchestrationError
from orchestration.core.settings import Settings, get_settings
from registry.models import AgentStatus, ServiceType
from workflows.saga_models import SagaState

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
saga_app = typer.Typer(help="Sagas: start one, follow it, list them.", no_args_is_help=True)
app.add_typer(saga_app, name="saga")
agents_app = typer.Typer(help="Agents in the registry.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")

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
    from orchestration.core import logs as log_filters

    log_filters.install()


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
    specs: Annotated[
        list[str],
        typer.Argument(
            help="Where the agents are: 'package.module:attribute', an Agent or a list of them."
        ),
    ],
) -> None:
    """Run agents: Temporal workers polling each agent's own task queue, registered and
    heartbeating while they run."""
    settings = load_settings()
    setup_logging(settings)
    from workers.agent_runtime import load_agents, run_agents

    try:
        agents = load_agents(specs)
    except OrchestrationError as exc:
        fail(str(exc), EXIT_CONFIG)
    run_async(lambda: run_agents(agents, settings))


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


@swarm_app.command("status")
def swarm_status(
    swarm_id: Annotated[str, typer.Argument(help="The swarm's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where a swarm is: partitions done, failed and in flight, convergence, rounds."""
    settings = load_settings()
    from orchestration.swarm_cli import progress_table, status

    progress = run_async(lambda: status(swarm_id, settings))
    if progress is None:
        out.print(f"swarm {swarm_id} has not planned its partitions yet")
    elif as_json:
        out.print_json(progress.model_dump_json())
    else:
        out.print(progress_table(progress))


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
) -> None:
    """Start a saga; with --wait (the default) follow it and exit by how it ended."""
    settings = load_settings()
    setup_logging(settings)
    from orchestration.saga_cli import exit_code, load_saga, start, steps_table

    try:
        transaction, initial_data = load_saga(saga_file, transaction_id=transaction_id, data=data)
    except OrchestrationError as exc:
        fail(str(exc), EXIT_CONFIG)
    execution = run_async(lambda: start(transaction, initial_data, settings, err, wait=wait))
    if execution is not None:
        out.print(steps_table(execution))
        raise typer.Exit(exit_code(execution))


@saga_app.command("status")
def saga_status(
    transaction_id: Annotated[str, typer.Argument(help="The saga's transaction id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the execution as JSON.")] = False,
) -> None:
    """A saga's state and steps, live or finished; exits by its state like `saga start`."""
    settings = load_settings()
    from orchestration.saga_cli import exit_code, show, steps_table

    execution = run_async(lambda: show(transaction_id, settings))
    if as_json:
        out.print_json(execution.model_dump_json())
    else:
        out.print(steps_table(execution))
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
    from orchestration.saga_cli import list_sagas, sagas_table

    rows = run_async(lambda: list_sagas(settings, state=state, name=name, limit=limit))
    if as_json:
        out.print_json(data=rows)
    else:
        out.print(sagas_table(rows))


@agents_app.command("list")
def agents_list(
    status: Annotated[
        AgentStatus | None, typer.Option(help="Only agents in this status.", case_sensitive=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Registered agents with their status and health."""
    settings = load_settings()
    from orchestration.agents_cli import agents_table, as_rows, list_agents

    agents = run_async(lambda: list_agents(settings, status))
    if as_json:
        out.print_json(data=as_rows(agents))
    else:
        out.print(agents_table(agents, f"{len(agents)} agent(s)"))


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
    from orchestration.agents_cli import agents_table, as_rows, discover

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
        out.print(agents_table(agents, f"{len(agents)} agent(s), best first"))


@app.command()
def examples(
    example: Annotated[
        str, typer.Argument(help="swarm, routing, saga, registry, integrated or all.")
    ] = "all",
) -> None:
    """Run the quick reference's usage examples (examples/usage.py) on the embedded stack."""
    raise typer.Exit(run_script("examples/usage.py", ["--example", example]))


@app.command()
def bench(
    component: Annotated[
        str, typer.Option(help="all, bus, routing, swarm, saga or registry.")
    ] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of rows.")] = False,
    quick: Annotated[bool, typer.Option(help="Tiny sizes: checks the benchmarks run.")] = False,
) -> None:
    """Measure every performance target (bench/run.py); exit 1 when one is missed."""
    argv = [
        "--component",
        component,
        *(["--json"] if as_json else []),
        *(["--quick"] if quick else []),
    ]
    raise typer.Exit(run_script("bench/run.py", argv))


def run_script(relative: str, argv: list[str]) -> int:
    """Run one of the repository's scripts with this Python; its exit status."""
    script = project_root() / relative
    if not script.is_file():
        fail(
            f"{relative} is not here: run this command from a checkout of the repository "
            "(the script is not part of the installed package)",
            EXIT_CONFIG,
        )
    try:
        return subprocess.call([sys.executable, str(script), *argv])
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def project_root() -> Path:
    """The checkout this package runs from, else the current directory."""
    source = Path(__file__).resolve().parent.parent
    return source if (source / "pyproject.toml").is_file() else Path.cwd()


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
    """The console script: run the command, then exit without interpreter teardown."""
    from orchestration.core.lifecycle import exit_process

    try:
        app()
    except SystemExit as exc:
        code = exc.code
        if not isinstance(code, int):  # None is success; a message is a failure
            if code is not None:
                err.print(str(code), soft_wrap=True)
            code = 0 if code is None else 1
        exit_process(code)
    exit_process(0)


if __name__ == "__main__":
    main()
