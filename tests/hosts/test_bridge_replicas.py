"""Two bridges in one consumer group on two hosts, Temporal and the broker on a third, the
workflows' worker on a fourth: ``bridge-a``'s link is cut mid-stream. The group hands its
partitions to ``bridge-b`` and every reading takes effect once in its facility's workflow."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from examples.bridge.facility_emissions import FacilityEmissionsWorkflow, FacilityState
from orchestration.core.settings import Settings
from orchestration.core.temporal_client import connect
from orchestration.stack.commands import tansu_command
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_kafka
from tests.bridge.facility_routes import facility_routes
from tests.hosts.bed import Bed, Host
from tests.hosts.services import cli, core_settings, run_on, start_temporal, temporal_env
from tests.reliability.figures import Figures

FACILITIES = 6
PER_FACILITY = 60
HERE = Path(__file__).parent
WORKER = HERE.parent / "tracing" / "facility_worker.py"
PUBLISH = HERE / "publish_readings.py"
READY_S = 90


@pytest.fixture
def bed() -> Iterator[Bed]:
    made = Bed.create(["core", "work-a", "bridge-a", "bridge-b", "client"])
    try:
        yield made
    finally:
        made.destroy()


@pytest_asyncio.fixture
async def core(bed: Bed, tmp_path: Path) -> AsyncIterator[Settings]:
    """Temporal's dev server and the Kafka broker on ``core``; the settings that reach them."""
    host = bed["core"]
    settings = core_settings(host, tmp_path / "core")
    temporal = await start_temporal(host, settings, tmp_path)
    broker = await ManagedProcess.spawn(
        "broker", host.command(tansu_command(settings)), log_file=tmp_path / "broker.log"
    )
    try:
        await wait_for_kafka(settings.kafka.bootstrap_servers, timeout_s=READY_S, process=broker)
        yield settings
    finally:
        await broker.stop()
        await temporal.stop()


def _env(settings: Settings, tmp_path: Path, host: Host, **more: str) -> dict[str, str]:
    return temporal_env(settings, tmp_path / host.name, **more)


async def _signaled(host: Host, topic: str) -> float:
    """The signals the bridge on ``host`` sent for ``topic`` (its /metrics)."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://{host.address}:8082/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "bridge_signals_total" and labels == {
                "topic": topic,
                "status": "signaled",
            }:
                return float(sample.value)
    return 0.0


async def _totals(client: Client, ids: list[str]) -> list[FacilityState | None]:
    async def one(workflow_id: str) -> FacilityState | None:
        try:
            handle = client.get_workflow_handle(workflow_id)
            return await handle.query(FacilityEmissionsWorkflow.totals)
        except Exception:
            return None

    return [await one(workflow_id) for workflow_id in ids]


async def test_a_cut_bridge_hands_its_partitions_to_the_other_and_every_reading_counts_once(
    bed: Bed, core: Settings, unique: str, tmp_path: Path, reliability_figures: Figures
) -> None:
    topic = f"bed-meters-{unique}"
    routes = facility_routes(tmp_path, topic, unique)
    worker_host = bed["work-a"]
    worker = await ManagedProcess.spawn(
        "facility worker",
        worker_host.command([sys.executable, str(WORKER), unique]),
        log_file=tmp_path / "worker.log",
        env=_env(core, tmp_path, worker_host),
    )
    bridges: list[ManagedProcess] = []
    client_host = bed["client"]
    bootstrap = core.kafka.bootstrap_servers[0]
    publish_env = _env(core, tmp_path, client_host)
    observer = await connect(core)
    ids = [f"{unique}-f{n}" for n in range(FACILITIES)]
    loop = asyncio.get_running_loop()
    try:
        # Both bridges in the group before the first reading.
        for name in ("bridge-a", "bridge-b"):
            bridge = await ManagedProcess.spawn(
                f"bridge on {name}",
                bed[name].command(cli("bridge")),
                log_file=tmp_path / f"{name}.log",
                env=_env(
                    core,
                    tmp_path,
                    bed[name],
                    BRIDGE_CONFIG=str(routes),
                    LOG_LEVEL="INFO",
                    METRICS_HOST=bed[name].address,
                ),
            )
            bridges.append(bridge)
            deadline = loop.time() + READY_S
            while "bridging" not in bridge.log_file.read_text():
                assert bridge.alive and loop.time() < deadline, bridge.tail()
                await asyncio.sleep(0.2)
        third = PER_FACILITY // 3
        await run_on(client_host, [sys.executable, str(PUBLISH), bootstrap, topic,
                                   str(FACILITIES), "1", str(third)], publish_env)  # fmt: skip

        async def readings() -> int:
            return sum(s.readings for s in await _totals(observer, ids) if s is not None)

        deadline = loop.time() + READY_S
        while await readings() < FACILITIES * third // 2:
            assert loop.time() < deadline, (tmp_path / "bridge-a.log").read_text()[-2000:]
            await asyncio.sleep(0.2)
        before_cut = {name: await _signaled(bed[name], topic) for name in ("bridge-a", "bridge-b")}
        bed.cut("bridge-a")
        cut_at = loop.time()
        await run_on(client_host, [sys.executable, str(PUBLISH), bootstrap, topic,
                                   str(FACILITIES), str(third + 1), str(PER_FACILITY)],
                     publish_env)  # fmt: skip
        deadline = loop.time() + 180
        while await readings() < FACILITIES * PER_FACILITY:
            assert loop.time() < deadline, (
                f"{await readings()} of {FACILITIES * PER_FACILITY} readings:\n"
                + (tmp_path / "bridge-b.log").read_text()[-3000:]
            )
            await asyncio.sleep(0.5)
        drained_s = loop.time() - cut_at
        after_cut = await _signaled(bed["bridge-b"], topic)
        bed.restore("bridge-a")  # it comes back to a group that moved on without it
        await asyncio.sleep(2)
        states = await _totals(observer, ids)
    finally:
        for process in (*bridges, worker):
            await process.stop()

    counts = [s.readings if s is not None else 0 for s in states]
    redelivered = sum(s.duplicates for s in states if s is not None)
    reliability_figures.record(
        "bridge replica's link cut mid-stream (2 hosts)",
        trials=FACILITIES * PER_FACILITY,
        faults=1,
        lost=sum(max(0, PER_FACILITY - c) for c in counts),
        duplicated=sum(max(0, c - PER_FACILITY) for c in counts),
        note=f"signals before the cut a {before_cut['bridge-a']:.0f}, b "
        f"{before_cut['bridge-b']:.0f}; b alone after it: {after_cut - before_cut['bridge-b']:.0f}"
        f" in {drained_s:.0f} s; {redelivered} redeliveries dropped",
    )
    # Both bridges had partitions of the topic until the cut.
    assert before_cut["bridge-a"] > 0 and before_cut["bridge-b"] > 0, before_cut
    assert counts == [PER_FACILITY] * FACILITIES
    for state in states:
        assert state is not None
        assert state.total_kg_co2e == pytest.approx(0.25 * sum(range(1, PER_FACILITY + 1)))
