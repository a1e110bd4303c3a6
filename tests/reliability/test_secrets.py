"""Secrets never appear in logs or error messages, of any process.

A registry service, an orchestration worker and the example CSRD agents run as subprocesses at
DEBUG level with a registry token and a database password. The agents register and heartbeat
with the token and keep their ledger in that database; sagas complete and compensate. Then the
failure paths that are most tempted to print a URL or a header: a client with a wrong token,
commands and a service pointed at an unreachable database. Every log and every error output
is searched for the token, the wrong token and the password.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import Client

from examples.csrd.agents import ReportRequest
from examples.csrd.saga import csrd_transaction
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import SagaError
from orchestration.core.settings import Settings
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_http
from orchestration.testing.ports import free_port
from tests.reliability.figures import Figures
from tests.reliability.service import child_env

pytestmark = pytest.mark.slow

TOKEN = "tok-" + "s3cr3t" * 6
WRONG_TOKEN = "tok-" + "wr0ng" * 6
PASSWORD = "pw-" + "h1dd3n" * 5
DEADLINE_S = 60.0


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestration.cli", *args]


async def until(
    check: Callable[[], Awaitable[bool]], what: str, process: ManagedProcess | None = None
) -> None:
    """Poll ``check`` until it is true, within the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await check():
        if process is not None:
            assert process.alive, f"{process.name} exited:\n{process.log_file.read_text()[-3000:]}"
        assert loop.time() < deadline, f"not reached in time: {what}"
        await asyncio.sleep(0.1)


async def run(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    return process.returncode or 0, output.decode(errors="replace")


async def test_no_secret_reaches_a_log_or_an_error_message(
    temporal_client: Client,
    postgres_url: str,
    unique: str,
    tmp_path: Path,
    reliability_figures: Figures,
) -> None:
    database_url = make_url(postgres_url).set(password=PASSWORD)  # trust auth ignores it
    database = database_url.render_as_string(hide_password=False)
    port = free_port()
    registry_url = f"http://127.0.0.1:{port}"
    queue = f"secrets-{unique}"
    env = child_env(
        tmp_path,
        temporal_client,
        TASK_QUEUE=queue,
        DATABASE_URL=database,
        REGISTRY_URL=registry_url,
        REGISTRY_PORT=str(port),
        REGISTRY_TOKEN=TOKEN,
        REGISTRY_HEARTBEAT_INTERVAL_S="0.2",
        METRICS_PORT=str(free_port()),
        LOG_LEVEL="DEBUG",
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    outputs: dict[str, str] = {}
    failures = 0
    processes: list[ManagedProcess] = []
    try:
        service = await ManagedProcess.spawn(
            "registry service", command("registry", "serve"),
            log_file=tmp_path / "registry.log", env=env,
        )  # fmt: skip
        processes.append(service)
        async with httpx.AsyncClient(base_url=registry_url, headers=auth, timeout=5) as http:
            await wait_for_http(
                "registry service", f"{registry_url}/health", timeout_s=DEADLINE_S, process=service
            )
            for name, argv in (
                ("worker", command("worker")),
                ("agents", command("agent", "examples.csrd.agents:ALL_AGENTS")),
            ):
                processes.append(await ManagedProcess.spawn(
                    name, argv, log_file=tmp_path / f"{name}.log", env=env))  # fmt: skip

            async def registered_and_beating() -> bool:
                answer = await http.get("/agents/agent-publisher")
                return answer.status_code == 200 and answer.json()["heartbeat_count"] > 0

            await until(registered_and_beating, "the agents register and heartbeat", processes[-1])
            settings = Settings(task_queue=queue)
            orchestrator = SagaOrchestrator(client=temporal_client, settings=settings)
            data = ReportRequest(company=f"Secrets {unique}", period="2026").model_dump()
            await asyncio.wait_for(
                orchestrator.execute(csrd_transaction(f"secrets-{unique}-ok"), data), DEADLINE_S
            )
            with pytest.raises(SagaError):
                bad = {**data, "inject_invalid_record": True}
                await asyncio.wait_for(
                    orchestrator.execute(csrd_transaction(f"secrets-{unique}-bad"), bad),
                    DEADLINE_S,
                )
            failures += 1
            for headers in ({"Authorization": f"Bearer {WRONG_TOKEN}"}, {}):
                answer = await httpx.AsyncClient(base_url=registry_url, timeout=5).get(
                    "/agents", headers=headers
                )
                assert answer.status_code == 401
                outputs[f"401 body ({'wrong' if headers else 'no'} token)"] = answer.text
                failures += 1
            code, outputs["agents list with a wrong token"] = await run(
                command("agents", "list"), {**env, "ORCH_REGISTRY_TOKEN": WRONG_TOKEN}
            )
            assert code != 0
            failures += 1
    finally:
        for process in processes:
            await process.stop()

    # Failure paths, each with its own error output.
    unreachable = database_url.set(port=free_port()).render_as_string(hide_password=False)
    code, outputs["db upgrade, database unreachable"] = await run(
        command("db", "upgrade"), {**env, "ORCH_DATABASE_URL": unreachable}
    )
    assert code != 0
    code, outputs["registry serve, database unreachable"] = await run(
        command("registry", "serve"),
        {**env, "ORCH_DATABASE_URL": unreachable, "ORCH_REGISTRY_PORT": str(free_port())},
    )
    assert code != 0
    failures += 2
    for log in sorted(tmp_path.glob("*.log")):
        outputs[log.name] = log.read_text(errors="replace")

    leaks = {
        (where, secret)
        for where, text in outputs.items()
        for secret in (TOKEN, WRONG_TOKEN, PASSWORD)
        if secret in text
    }
    reliability_figures.record(
        "secrets searched in logs and error output",
        trials=len(outputs),
        faults=failures,
        note=f"{len(leaks)} leaks; registry, worker and agent logs at DEBUG, CLI errors, 401s",
    )
    assert leaks == set()
    # The outputs are real: the processes logged at DEBUG, the errors explain themselves.
    assert "polling task queue" in outputs["agents.log"]
    assert "***" in outputs["db upgrade, database unreachable"]  # the URL, password masked
    assert "token" in outputs["agents list with a wrong token"].lower()
    for name in ("registry.log", "worker.log", "agents.log"):
        assert len(outputs[name].splitlines()) > 5, name
