"""Two registry services on two hosts, one Postgres on a third, agents' traffic from a fourth:
``reg-a``'s link is cut mid-run. Registrations, heartbeats and discovery go on through
``reg-b`` with nothing lost, and ``reg-a`` catches up from the database when its link returns.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.hosts.bed import Bed
from tests.hosts.postgres import private_postgres
from tests.hosts.services import REGISTRY_PORT, TOKEN, cli, our_env, registry_service, run_on
from tests.reliability.figures import Figures

AGENTS = 240
ROUNDS = 3
DRIVER = Path(__file__).with_name("registry_driver.py")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def bed() -> Iterator[Bed]:
    made = Bed.create(["core", "reg-a", "reg-b", "client"])
    try:
        yield made
    finally:
        made.destroy()


@pytest_asyncio.fixture
async def database(bed: Bed, tmp_path: Path) -> AsyncIterator[str]:
    async with private_postgres(bed, bed["core"], tmp_path) as url:
        await run_on(bed["reg-a"], cli("db", "upgrade"), our_env(tmp_path, DATABASE_URL=url))
        yield url


async def _agents(url: str) -> dict[str, int]:
    """Agent id -> heartbeat count, as the service at ``url`` lists them."""
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=5) as http:
        answer = await http.get("/agents")
        answer.raise_for_status()
        return {a["descriptor"]["agent_id"]: a["heartbeat_count"] for a in answer.json()}


async def test_registry_traffic_survives_a_cut_replica_and_the_replica_catches_up(
    bed: Bed, database: str, tmp_path: Path, reliability_figures: Figures
) -> None:
    reg_a, reg_b = bed["reg-a"], bed["reg-b"]
    services = [
        await registry_service(host, database, tmp_path / host.name, tmp_path)
        for host in (reg_a, reg_b)
    ]
    client = bed["client"]
    urls = f"{reg_a.url(REGISTRY_PORT)},{reg_b.url(REGISTRY_PORT)}"
    try:
        # No loopback shortcut: on the client host nothing of ours, nor the machine's own
        # Postgres, answers on 127.0.0.1; only the hosts' addresses lead anywhere.
        probe = (
            "import socket,sys\n"
            "for port in (8000, 5432):\n"
            "    try: socket.create_connection(('127.0.0.1', port), 1); sys.exit(f'{port} open')\n"
            "    except OSError: pass\n"
        )
        await run_on(client, [sys.executable, "-c", probe], our_env(tmp_path))

        driver = await asyncio.create_subprocess_exec(
            *client.command([sys.executable, str(DRIVER), urls, TOKEN, str(AGENTS), str(ROUNDS)]),
            env=our_env(tmp_path), stdout=asyncio.subprocess.PIPE,
            stderr=(tmp_path / "driver.log").open("wb"),
        )  # fmt: skip
        assert driver.stdout is not None
        cut = False
        report: dict[str, Any] | None = None
        async with asyncio.timeout(300):
            async for raw in driver.stdout:
                line = raw.decode().strip()
                if line.startswith("progress "):
                    if not cut and int(line.split()[1]) >= AGENTS // 3:
                        bed.cut("reg-a")  # mid-registration: reg-a and its database link
                        cut = True
                elif line.startswith("{"):
                    report = json.loads(line)
            assert await driver.wait() == 0, (tmp_path / "driver.log").read_text()[-3000:]
        assert cut and report is not None

        # Everything acknowledged is in the database, as reg-b reads it.
        seen_b = await _agents(reg_b.url(REGISTRY_PORT))
        bed.restore("reg-a")
        # reg-a's own buffered heartbeats reach the database once it can write again, and
        # its snapshot takes in what reg-b wrote meanwhile.
        loop = asyncio.get_running_loop()
        restored_at = loop.time()
        while True:
            seen_a = await _agents(reg_a.url(REGISTRY_PORT))
            seen_b = await _agents(reg_b.url(REGISTRY_PORT))
            if seen_a == seen_b and len(seen_a) == AGENTS and min(seen_a.values()) >= ROUNDS:
                break
            assert loop.time() - restored_at < 60, (len(seen_a), len(seen_b))
            await asyncio.sleep(0.5)
        caught_up_s = loop.time() - restored_at
    finally:
        for service in services:
            await service.stop()

    lost = AGENTS - len(seen_b) + sum(max(0, ROUNDS - count) for count in seen_b.values())
    duplicated = sum(max(0, count - ROUNDS) for count in seen_b.values())
    reliability_figures.record(
        "registry replica's link cut mid-run (2 hosts)",
        trials=AGENTS * (1 + ROUNDS),
        faults=1,
        lost=lost,
        duplicated=duplicated,
        note=f"slowest call {report['slowest_call_s']} s (the failover); reg-a caught up "
        f"{caught_up_s:.1f} s after its link returned",
    )
    assert lost == 0
    # A heartbeat reg-a took but could not answer before its link went is sent again
    # through reg-b and counts twice (harmless: a heartbeat overwrites the last); at most one
    # per client that was on reg-a, with one call in flight each.
    moved = report["started"].get(reg_a.url(REGISTRY_PORT), 0)
    assert duplicated <= moved
    assert report["discovered"] == [AGENTS] * ROUNDS
    # The clients spread over both replicas, and those on reg-a moved to reg-b.
    assert report["started"] == {reg_a.url(REGISTRY_PORT): 4, reg_b.url(REGISTRY_PORT): 4}
    assert report["ended"] == {reg_b.url(REGISTRY_PORT): 8}
