"""SwarmWorkflow end to end on a real Temporal dev server with in-process agents."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from temporalio.client import Client

from examples.swarm.agents import CAPABILITY
from examples.swarm.suppliers import sequential_total
from orchestration.core.exceptions import SwarmNotConvergedError, ValidationError
from registry.local_registry import LocalAgentRegistry
from swarm.scheduling import SwarmBehavior
from tests.workflows.swarm_support import running_swarm, task
from workflows.swarm_models import SourceRef, SwarmTask


@pytest.mark.parametrize("behavior", list(SwarmBehavior))
async def test_every_behaviour_computes_the_exact_total(
    temporal_client: Client, unique: str, behavior: SwarmBehavior
) -> None:
    async with running_swarm(temporal_client, unique, 4) as (swarm, pool):
        result = await swarm.deploy(task(pool, behavior=behavior, max_batch=3))
    assert Decimal(result["result"]) == sequential_total(20, 10)
    assert result["convergence"] == 1.0
    assert (result["status"], result["partial"], result["converged"]) == ("completed", False, True)
    assert result["partitions_completed"] == 20 and result["partitions_failed"] == 0
    assert result["evaluations"] == result["items_processed"] == 200
    assert result["iterations"] >= 20 / (4 * 3)
    assert 0.0 < result["efficiency"] <= 1.0
    assert sum(a["partitions"] for a in result["agents"].values()) == 20


async def test_a_source_lists_the_partitions_and_clustering_keeps_regions_together(
    temporal_client: Client, unique: str
) -> None:
    async with running_swarm(temporal_client, unique, 5) as (swarm, pool):
        result = await swarm.deploy(
            task(
                pool,
                items_per_partition=None,
                source=SourceRef(
                    agent_id=pool[0].agent_id,
                    action="list_partitions",
                    params={"partitions": 30, "suppliers_per_partition": 10},
                ),
                data_partitions=30,
                behavior=SwarmBehavior.CLUSTERING,
            )
        )
    assert Decimal(result["result"]) == sequential_total(30, 10)
    assert result["items_total"] == 300


async def test_a_slow_and_a_failing_agent_leave_the_result_exact(
    temporal_client: Client, unique: str
) -> None:
    async with running_swarm(temporal_client, unique, 5) as (swarm, pool):
        slow, failing = pool[1].agent_id, pool[2].agent_id
        result = await swarm.deploy(
            task(
                pool,
                data_partitions=40,
                behavior=SwarmBehavior.MIGRATING,
                max_batch=2,
                params={
                    "suppliers_per_partition": 10,
                    "delay_ms": 20,
                    "slow": {slow: 5},
                    "failing": [failing],
                },
            )
        )
    assert Decimal(result["result"]) == sequential_total(40, 10)
    stats = result["agents"]
    assert stats[failing]["partitions"] == 0 and stats[failing]["failures"] >= 1
    assert stats[failing]["consecutive_failures"] <= 3  # no work once marked unhealthy
    assert sum(s["partitions"] for s in stats.values()) == 40
    assert result["error_count"] >= 1


async def test_a_partition_that_always_fails_ends_partial_above_the_threshold(
    temporal_client: Client, unique: str
) -> None:
    # Inline items, one per partition; partition 3's item makes the action raise every time.
    items: list[dict[str, object]] = [{"value": n} for n in range(20)]
    items[3] = {"value": "not a number"}
    fields = {
        "items_per_partition": None,
        "items": items,
        "data_partitions": 20,
        "action": "sum_items",
        "max_attempts": 2,
    }
    async with running_swarm(temporal_client, unique, 3) as (swarm, pool):
        ok = await swarm.deploy(task(pool, convergence_threshold=0.9, **fields))
        with pytest.raises(SwarmNotConvergedError) as caught:
            await swarm.deploy(task(pool, convergence_threshold=0.99, **fields))
    assert (ok["status"], ok["partial"], ok["converged"]) == ("partial", True, True)
    assert ok["partitions_failed"] == 1
    assert ok["result"] == sum(range(20)) - 3
    assert any("not an integer" in e for e in ok["errors"])
    assert caught.value.result["convergence"] == pytest.approx(19 / 20)
    assert caught.value.result["result"] is None
    assert "below its threshold" in str(caught.value)


async def test_more_failures_than_tolerated_end_the_swarm_before_the_rest_runs(
    temporal_client: Client, unique: str
) -> None:
    # The first ten of 200 partitions always fail; at most 1% (2) may.
    items: list[dict[str, object]] = [{"value": n} for n in range(200)]
    for n in range(10):
        items[n] = {"value": "not a number"}
    fields = {
        "items_per_partition": None,
        "items": items,
        "data_partitions": 200,
        "action": "sum_items",
        "max_attempts": 1,
        "max_batch": 1,
        "convergence_threshold": 0.5,  # would converge: the tolerated failures decide
        "tolerated_failure_percent": 1.0,
    }
    async with running_swarm(temporal_client, unique, 3) as (swarm, pool):
        with pytest.raises(SwarmNotConvergedError) as caught:
            await swarm.deploy(task(pool, **fields))
    result = caught.value.result
    assert result["status"] == "failed" and result["result"] is None
    assert re.search(
        r"gave up: \d+ of 200 partitions failed for good, more than the 2 tolerated",
        str(caught.value),
    ), str(caught.value)
    assert result["partitions_completed"] < 190  # the rest was not run


def test_the_tighter_of_the_two_bounds_is_tolerated() -> None:
    plain = SwarmTask(
        objective="x", data_partitions=200, agents_required=1, action="a", agents=["a-1"]
    )
    bounded = plain.model_copy(
        update={"tolerated_failure_count": 5, "tolerated_failure_percent": 1.0}
    )
    assert bounded.failures_tolerated(200) == 2
    assert bounded.failures_tolerated(10_000) == 5
    assert plain.failures_tolerated(200) is None


async def test_invalid_tasks_are_refused_before_anything_starts(
    temporal_client: Client, unique: str
) -> None:
    async with running_swarm(temporal_client, unique, 2) as (swarm, pool):
        bad = task(pool)
        bad.data_partitions = 0
        with pytest.raises(ValidationError) as caught:
            await swarm.deploy(bad)
    assert [e["field"] for e in caught.value.errors] == ["data_partitions"]


async def test_a_long_swarm_continues_as_new_and_counts_every_partition_once(
    temporal_client: Client, unique: str
) -> None:
    async with running_swarm(temporal_client, unique, 4) as (swarm, pool):
        swarm_task = task(
            pool,
            data_partitions=300,
            params={"suppliers_per_partition": 2},
            items_per_partition=2,
            max_batch=2,
            max_history_events=300,
            behavior=SwarmBehavior.SWARMING,
        )
        result = await swarm.deploy(swarm_task)
        history = await temporal_client.get_workflow_handle(swarm_task.swarm_id).fetch_history()
    assert result["runs"] > 2
    assert Decimal(result["result"]) == sequential_total(300, 2)
    assert result["partitions_completed"] == 300
    assert sum(a["partitions"] for a in result["agents"].values()) == 300
    assert len(history.events) < 1000  # the last run's history only


async def test_a_100k_partition_job_completes(temporal_client: Client, unique: str) -> None:
    async with running_swarm(temporal_client, unique, 4) as (swarm, pool):
        result = await swarm.deploy(
            task(
                pool,
                data_partitions=100_000,
                items_per_partition=1,
                action="calculate_emissions",
                params={"suppliers_per_partition": 0},
                max_batch=1000,
                reducer="count",
                behavior=SwarmBehavior.DISPERSING,
            )
        )
    assert result["result"] == 100_000
    assert result["partitions_completed"] == 100_000
    assert result["convergence"] == 1.0


async def test_agents_are_discovered_in_the_registry_by_capability(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    registry = sqlite_registry
    async with running_swarm(temporal_client, unique, 3, registry=registry) as (swarm, pool):
        for agent in pool:
            await registry.register(agent.descriptor)
        result = await swarm.deploy(
            task(pool, agents=[], capabilities=[CAPABILITY], agents_required=3)
        )
    assert sorted(result["agents"]) == sorted(a.agent_id for a in pool)
    assert Decimal(result["result"]) == sequential_total(20, 10)
