"""The benchmark's behaviour workloads (``examples/swarm/workloads.py``) in the simulator.

Each assignment costs what the example agents would spend on it: its partitions one after
the other, each :func:`partition_delay_ms` long, plus a fixed overhead per assignment (the
workflow's round and the activity's dispatch). With ``upstream_limit`` the partitions of one
key are served at most that many at a time: each reserves the earliest slot of its key's
upstream (first come, first served), so concurrent agents on one key wait for each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from examples.swarm.workloads import PARTITIONS, SUPPLIERS, Workload, partition_delay_ms
from swarm.policies import make_policy
from swarm.scheduling import PolicyConfig, SwarmBehavior
from tests.swarm.simulator import SimAgent, SimPartition, SimResult, simulate

__all__ = ["OVERHEAD_S", "WorkloadCost", "run_workload"]

OVERHEAD_S = 0.01
"""Per assignment: about what a round and an activity dispatch take on the embedded stack."""


@dataclass
class WorkloadCost:
    """The simulator's cost model of one workload run (it keeps the agents' counts)."""

    workload: Workload
    counts: dict[str, int] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    slots: dict[str, list[float]] = field(default_factory=dict)

    def __call__(self, agent: str, parts: Sequence[SimPartition], now: float) -> list[float]:
        params = self.workload.params
        limit = int(params.get("upstream_limit", 0))
        at = now + OVERHEAD_S
        durations = []
        for part in parts:
            began = at
            self.counts[agent] = count = self.counts.get(agent, 0) + 1
            seen = self.seen.setdefault(agent, set())
            took = partition_delay_ms(params, agent, part.key, count, part.key not in seen) / 1000
            seen.add(part.key or "")
            if limit and part.key is not None:
                free = self.slots.setdefault(part.key, [0.0] * limit)
                slot = min(range(limit), key=lambda i: free[i])
                at = max(at, free[slot]) + took
                free[slot] = at
            else:
                at += took
            durations.append(at - began)
        durations[0] += OVERHEAD_S
        return durations


def run_workload(
    workload: Workload, behavior: SwarmBehavior, *, max_batch: int = 10, seed: int = 7
) -> SimResult:
    """``behavior`` through ``workload`` in the simulator, rounds also on a 0.1 s timer."""
    config = PolicyConfig(max_batch=max_batch)
    agents = [SimAgent(a, 1.0, location=workload.locations.get(a)) for a in workload.agents]
    partitions = [SimPartition(p, SUPPLIERS, workload.key(p)) for p in range(PARTITIONS)]
    return simulate(
        make_policy(behavior, config),
        agents,
        partitions,
        config=config,
        seed=seed,
        tick_s=0.1,
        cost=WorkloadCost(workload),
    )
