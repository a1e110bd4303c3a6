"""``bench/swarm.py``'s behaviour matrix: each workload's job, and the matrix as printed."""

from __future__ import annotations

import io

from bench.report import AT_MOST, Row
from bench.swarm import OTHERS_SLOWDOWN, OWN_SPEEDUP, print_matrix, workload_task
from examples.swarm.workloads import PARTITIONS, WORKLOADS
from swarm.scheduling import SwarmBehavior


def test_a_workloads_job_lists_its_keyed_partitions_and_tags_the_run() -> None:
    locations = next(w for w in WORKLOADS if w.name == "locations")
    task = workload_task(locations, SwarmBehavior.FLOCKING, "r7")
    assert task.data_partitions == PARTITIONS
    assert task.params["run"] == "r7" and task.params["remote_ms"] == 60
    assert {a: i.location for a, i in task.agent_info.items()} == dict(locations.locations)
    assert task.source is not None and task.source.params["keys"] == list(locations.keys)


def test_the_matrix_marks_each_workloads_own_behaviour_and_a_missed_target() -> None:
    rows = []
    for workload in WORKLOADS:
        for behavior in SwarmBehavior:
            if behavior is SwarmBehavior.ROUND_ROBIN:
                continue
            own = behavior.value == workload.behavior
            achieved = 500.0 if own else 1_200.0 if workload.name == "yield" else 1_000.0
            limit = 1_000 / OWN_SPEEDUP if own else 1_000 * OTHERS_SLOWDOWN
            rows.append(
                Row(
                    "swarm", f"makespan_{workload.name}_{behavior.value}", "ms", limit,
                    achieved, achieved, achieved, 1_000.0, 1_000.0 / achieved,
                    achieved <= limit, AT_MOST,
                )
            )  # fmt: skip
    out = io.StringIO()
    print_matrix(rows, out)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    yield_line = next(line for line in lines if line.startswith("yield"))
    assert "2.00*" in yield_line and "0.83 !" in yield_line
    slowdown_line = next(line for line in lines if line.startswith("slowdown"))
    assert "!" not in slowdown_line and slowdown_line.count("*") == 1
