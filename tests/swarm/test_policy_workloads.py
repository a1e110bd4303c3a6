"""Each behaviour through the workload it exists for (``examples/swarm/workloads.py``), in
the simulator with the agents' own cost model, against round robin on the same job.

The benchmark (``bench/swarm.py``) measures the whole matrix on the real stack; here only
the behaviour that earns its name is asserted, since the simulator is deterministic: every
partition completes exactly once, and the makespan is at least 1.3 x shorter.
"""

from __future__ import annotations

import pytest

from examples.swarm.workloads import PARTITIONS, WORKLOADS, Workload
from swarm.scheduling import SwarmBehavior
from tests.swarm.workload_sim import run_workload


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.name)
def test_each_behaviour_is_much_faster_than_round_robin_on_its_own_workload(
    workload: Workload,
) -> None:
    own = run_workload(workload, SwarmBehavior(workload.behavior))
    baseline = run_workload(workload, SwarmBehavior.ROUND_ROBIN)
    for result in (own, baseline):
        assert sorted(result.winners) == list(range(PARTITIONS))
        assert set(result.counted.values()) == {1}
    assert baseline.makespan >= 1.3 * own.makespan, (own.makespan, baseline.makespan)


def test_every_behaviour_has_a_workload() -> None:
    assert {w.behavior for w in WORKLOADS} == {
        b.value for b in SwarmBehavior if b is not SwarmBehavior.ROUND_ROBIN
    }
