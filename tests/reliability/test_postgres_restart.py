"""Postgres restarted under registry load (``CHAOS_SCALE`` times, spread over the load):
meanwhile the service answers 503 with a clear message (never a 500), it recovers by itself,
and no acknowledged registration is lost.

Restarts the machine's Postgres cluster (``pg_ctlcluster ... restart``); every engine of ours
pings connections before use, so the rest of the suite reconnects."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_http
from orchestration.testing.ports import free_port
from tests.reliability.figures import Figures
from tests.reliability.scale import scaled
from tests.reliability.service import service_env

pytestmark = pytest.mark.slow

CLUSTERS = Path("/etc/postgresql")
AGENTS = scaled(200)
RESTARTS = scaled(1)  # spread over the registrations: after 1/(n+1), 2/(n+1), ... of them


def restart_postgres() -> None:
    version = sorted(p.name for p in CLUSTERS.iterdir())[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


@pytest.mark.skipif(
    shutil.which("pg_ctlcluster") is None or not CLUSTERS.is_dir() or os.geteuid() != 0,
    reason="needs the local Postgres cluster and root to restart it (pg_ctlcluster)",
)
async def test_the_registry_rides_out_a_postgres_restart_without_losing_a_registration(
    postgres_url: str, tmp_path: Path, reliability_figures: Figures
) -> None:
    port = free_port()
    env = service_env(port, tmp_path, DATABASE_URL=postgres_url)
    service = await ManagedProcess.spawn(
        "registry service",
        [sys.executable, "-m", "orchestration.cli", "registry", "serve"],
        log_file=tmp_path / "service.log",
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    statuses: Counter[int] = Counter()
    unavailable: list[httpx.Response] = []
    acknowledged: set[str] = set()
    progress = asyncio.Condition()
    try:
        await wait_for_http("registry service", f"{url}/health", timeout_s=60, process=service)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:

            async def register_all() -> None:
                for n in range(AGENTS):
                    agent_id = f"pg-{n:03d}"
                    body = {"agent_id": agent_id, "agent_type": "Calc", "version": "1.0.0"}
                    async with asyncio.timeout(120):
                        while True:  # what a client does with a 503: wait, then try again
                            answer = await http.post("/agents", json=body)
                            statuses[answer.status_code] += 1
                            if answer.status_code == 201:
                                acknowledged.add(agent_id)
                                async with progress:
                                    progress.notify_all()
                                break
                            assert answer.status_code == 503, answer.text  # never a 500
                            unavailable.append(answer)
                            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))

            load = asyncio.create_task(register_all())
            for n in range(1, RESTARTS + 1):  # each restart comes under load
                async with progress:
                    threshold = n * AGENTS // (RESTARTS + 1)
                    await asyncio.wait_for(
                        progress.wait_for(lambda t=threshold: len(acknowledged) >= t), 120
                    )
                await asyncio.to_thread(restart_postgres)
            await load
            listed = (await http.get("/agents")).json()
    finally:
        await service.stop()

    stored = {a["descriptor"]["agent_id"] for a in listed}
    reliability_figures.record(
        "Postgres restarted under registry load",
        trials=AGENTS,
        faults=RESTARTS,
        lost=len(acknowledged - stored) + AGENTS - len(acknowledged),
        note=f"{len(unavailable)} requests answered 503, {statuses[500]} answered 500",
    )
    assert acknowledged == {f"pg-{n:03d}" for n in range(AGENTS)}
    assert {a["descriptor"]["agent_id"] for a in listed} >= acknowledged  # none lost
    assert statuses[500] == 0
    for answer in unavailable:  # a clear message, no internals
        assert "Retry-After" in answer.headers
        assert "database" in answer.json()["error"].lower()
        assert "Traceback" not in answer.text and "asyncpg" not in answer.text
    print(f"{AGENTS} registrations, {len(unavailable)} answered 503 during {RESTARTS} "
          "restart(s), 0 lost")  # fmt: skip
