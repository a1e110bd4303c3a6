"""The ``orchestration`` command: the root, its process commands, and its command groups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from orchestration.cli import groups
from orchestration.cli.common import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    err,
    fail,
    load_settings,
    options,
    run_async,
    setup_logging,
)
from orchestration.cli.pipeline_app import pipeline_app
from orchestration.cli.saga_app import saga_app
from orchestration.cli.schedule_app import schedule_app
from orchestration.core.exceptions import OrchestrationError
from orchestration.core.lifecycle import exit_process

__all__ = ["app", "main"]

app = typer.Typer(
    name="orchestration",
    help="GreenLang Orchestration: durable agent orchestration on Temporal and Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Errors also show the underlying library's words.")
    ] = False,
) -> None:
    options.verbose = verbose


app.add_typer(groups.db_app, name="db")
app.add_typer(groups.registry_app, name="registry")
app.add_typer(groups.swarm_app, name="swarm")
app.add_typer(saga_app, name="saga")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(schedule_app, name="schedule")
app.add_typer(groups.agents_app, name="agents")


@app.command()
def up() -> None:
    """Start the embedded stack (Temporal, Kafka broker, database, worker) in the foreground."""
    settings = load_settings()
    setup_logging(settings, "orchestration-stack")
    from orchestration.stack import run_up

    raise typer.Exit(run_async(lambda: run_up(settings)))


@app.command()
def worker() -> None:
    """Run the orchestration worker (workflows and activities) on ORCH_TASK_QUEUE."""
    settings = load_settings()
    setup_logging(settings, "orchestration-worker")
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
    """Run agents: Temporal workers polling each agent's own task queue.

    They register with the registry and heartbeat while they run.
    """
    settings = load_settings()
    setup_logging(settings, "orchestration-agent")
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
    setup_logging(settings, "orchestration-bridge")
    from workers.bridge_runner import run_bridge

    run_async(lambda: run_bridge(settings))


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
    source = Path(__file__).resolve().parents[2]
    return source if (source / "pyproject.toml").is_file() else Path.cwd()


def main() -> None:
    """The console script: run the command, then exit without interpreter teardown."""
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
