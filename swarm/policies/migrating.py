"""MIGRATING: a plan of queued partitions per agent, rebalanced off slow, failing or lost agents.

The workload it exists for: an agent that slows down mid-run (a noisy neighbour, a throttled
disk, a thermal limit). Work already handed out stays with it; the queued rest moves to the
agents that will finish it sooner.

Memory: the *plan*, partition -> (agent, items), for partitions placed but not yet handed out.
An agent's *queue* is its planned partitions in id order.

*Expected rate* of a healthy agent (items/s): its throughput, or the pool's median throughput
while it has none (1.0 when nobody has one); capped by what its current assignment shows (an
agent still busy with ``I`` items after ``e`` seconds is slower than ``I / e``); divided by
``1 + failures`` (its failure streak). Its *expected finish* is the rest of its in-flight work
(``I / rate - e``, at least 0) plus its queued items / rate.

``assign(state, rng)``:

1. An unhealthy agent *always loses its whole queue*; so does a partition that failed on its
   planned agent while some healthy agent has not failed it, and one now in flight.
2. *Placement*: unplanned pending partitions (new, failed, or from lost agents), in id order,
   first as *contiguous runs*: the *level* is the time at which the healthy agents without a
   failure streak would all finish if the new work were shared in proportion to their rates;
   each such agent in id order takes the next partitions while its expected finish stays
   within half a partition of the level (skipping one it failed on). Neighbouring partitions
   stay together (a sorted export's key, a file's region) and agents start far apart. What
   is left then goes one by one to the agent whose expected finish *with* it is earliest
   (ties: agent id), among the healthy agents without a failure streak that it has not
   failed on (else among all healthy agents it has not failed on, or all of them if it
   failed on each). With nothing known yet this is an even spread.
3. *Migration*: repeatedly take the last queued partition (in view) of the agent with the
   latest expected finish and move it to the candidate that would finish it earliest, but only
   if that finish is earlier by more than ``migration_margin`` (a fraction of the current
   finish). Stop at the first move that does not clear the margin: work never moves for a
   marginal gain, so plans do not thrash. An idle agent with an empty queue is a candidate like
   any other, so it takes over queued work only when the gain is clear.
4. Every idle, healthy agent takes the head of its queue: ``ceil(len(queue) / QUEUE_SLICES)``
   partitions but at least ``2 x ceil(max_batch / QUEUE_SLICES)`` (so the tail is not a
   string of one-partition assignments), at most ``max_batch``; they leave the plan. Handing
   out a quarter at a time keeps most of the queue in the plan, where it can still move.

When ``state.pending`` is only a window of the backlog, the plan covers the partitions seen so
far; planned partitions outside the current window count toward their agent's finish but are
neither moved nor handed out until they are in view again. ``rng`` is unused.

*Revision 1* (swarms started before these rules): placement is one by one only, and the
hand-out has no floor (at least 1).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, Self

from swarm.policies.common import (
    BasePolicy,
    hand_out,
    healthy_ids,
    idle_ids,
    in_flight_loads,
    may_run,
    median_throughput,
    preferred_ids,
)
from swarm.scheduling import Assignment, PartitionView, PolicyConfig, RoundState, SwarmBehavior

__all__ = ["QUEUE_SLICES", "MigratingPolicy"]

QUEUE_SLICES = 4
"""An idle agent takes ``1 / QUEUE_SLICES`` of its queue per assignment (rounded up)."""

_MIN_RATE = 1e-9


class MigratingPolicy(BasePolicy):
    """Keeps a plan and moves queued work only when the expected gain clears the margin."""

    behavior = SwarmBehavior.MIGRATING

    def __init__(
        self, config: PolicyConfig | None = None, plan: Mapping[int, tuple[str, int]] | None = None
    ) -> None:
        super().__init__(config)
        self._plan: dict[int, tuple[str, int]] = {
            int(p): (str(a), int(n)) for p, (a, n) in sorted((plan or {}).items())
        }

    def plan(self) -> dict[int, str]:
        """The current plan: queued partition -> agent, by partition id."""
        return {p: agent for p, (agent, _) in sorted(self._plan.items())}

    def rates(self, state: RoundState) -> dict[str, float]:
        """Every healthy agent's expected rate in items/s (module docstring)."""
        fallback = median_throughput(state) or 1.0
        loads = in_flight_loads(state)
        rates: dict[str, float] = {}
        for agent in sorted((a for a in state.agents if a.healthy), key=lambda a: a.agent_id):
            rate = agent.throughput if agent.throughput > 0 else fallback
            load = loads.get(agent.agent_id)
            if load is not None and load.since is not None and state.now > load.since:
                rate = min(rate, load.items / (state.now - load.since))
            rates[agent.agent_id] = max(rate / (1 + agent.failures), _MIN_RATE)
        return rates

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """Update and rebalance the plan, then hand each idle agent the head of its queue."""
        healthy = healthy_ids(state)
        view = {p.partition_id: p for p in sorted(state.pending, key=lambda p: p.partition_id)}
        running = {p.partition_id for p in state.in_flight}
        self._plan = {
            p: (agent, items)
            for p, (agent, items) in sorted(self._plan.items())
            if agent in healthy
            and p not in running
            and (p not in view or may_run(view[p], agent, healthy))
        }
        if not healthy:
            return []
        rates = self.rates(state)
        finish = dict.fromkeys(healthy, 0.0)
        for agent, load in in_flight_loads(state).items():
            if agent in finish:
                elapsed = state.now - load.since if load.since is not None else 0.0
                finish[agent] = max(0.0, load.items / rates[agent] - elapsed)
        for agent, items in self._plan.values():
            finish[agent] += items / rates[agent]
        targets = preferred_ids(state)
        unplanned = [p for pid, p in view.items() if pid not in self._plan]
        if state.revision >= 2:
            unplanned = self._place_runs(unplanned, rates, finish, targets, healthy)
        for partition in unplanned:
            allowed = [a for a in targets if may_run(partition, a, healthy)] or [
                a for a in healthy if may_run(partition, a, healthy)
            ]
            cost, agent = min((finish[a] + partition.items / rates[a], a) for a in allowed)
            self._plan[partition.partition_id], finish[agent] = (agent, partition.items), cost
        self._rebalance(view, rates, finish, targets, state.config.migration_margin, healthy)
        queues: dict[str, list[int]] = {}
        sizes: dict[str, int] = {}
        for partition_id, (agent, _) in sorted(self._plan.items()):
            sizes[agent] = sizes.get(agent, 0) + 1
            if partition_id in view:
                queues.setdefault(agent, []).append(partition_id)
        batch = state.config.max_batch
        floor = math.ceil(batch / QUEUE_SLICES) * 2 if state.revision >= 2 else 1
        assignments = hand_out(
            idle_ids(state),
            queues,
            lambda agent: min(batch, max(floor, math.ceil(sizes[agent] / QUEUE_SLICES))),
        )
        for assignment in assignments:
            for partition_id in assignment.partition_ids:
                del self._plan[partition_id]
        return assignments

    def _place_runs(
        self,
        unplanned: list[PartitionView],
        rates: Mapping[str, float],
        finish: dict[str, float],
        targets: list[str],
        healthy: list[str],
    ) -> list[PartitionView]:
        """Revision 2: place ``unplanned`` (in id order) as contiguous runs, one per target
        agent in id order, each filled up to the time every target would finish if the work
        were shared in proportion to their rates; returns the partitions left over (the
        last ones, or ones an agent may not run), placed one by one after."""
        speed = sum(rates[a] for a in targets)
        level = (
            sum(finish[a] * rates[a] for a in targets) + sum(p.items for p in unplanned)
        ) / speed
        left: list[PartitionView] = []
        at = 0
        for agent in targets:
            while at < len(unplanned):
                partition = unplanned[at]
                cost = finish[agent] + partition.items / rates[agent]
                if cost > level + 0.5 * partition.items / rates[agent]:
                    break
                at += 1
                if may_run(partition, agent, healthy):
                    self._plan[partition.partition_id], finish[agent] = (
                        (agent, partition.items),
                        cost,
                    )
                else:
                    left.append(partition)
        return left + unplanned[at:]

    def _rebalance(
        self,
        view: Mapping[int, PartitionView],
        rates: Mapping[str, float],
        finish: dict[str, float],
        targets: list[str],
        margin: float,
        healthy: list[str],
    ) -> None:
        for _ in range(len(self._plan)):
            movable = [(agent, p) for p, (agent, _) in self._plan.items() if p in view]
            if not movable:
                return
            _, source = max((finish[agent], agent) for agent, _ in movable)
            partition = view[max(p for agent, p in movable if agent == source)]
            items = partition.items
            others = [
                (finish[a] + items / rates[a], a)
                for a in targets
                if a != source and may_run(partition, a, healthy)
            ]
            if not others:
                return
            cost, target = min(others)
            if cost >= (1.0 - margin) * finish[source]:
                return
            self._plan[partition.partition_id] = (target, items)
            finish[source] -= items / rates[source]
            finish[target] = cost

    def _memory(self) -> dict[str, Any]:
        return {"plan": {str(p): [a, n] for p, (a, n) in sorted(self._plan.items())}}

    @classmethod
    def _load(cls, memory: Mapping[str, Any], config: PolicyConfig) -> Self:
        plan = memory.get("plan", {})
        if not isinstance(plan, Mapping):
            raise ValueError("migrating memory: 'plan' must map partition id -> [agent, items]")
        return cls(config, {int(p): (entry[0], entry[1]) for p, entry in plan.items()})
