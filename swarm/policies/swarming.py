"""SWARMING: plain fair assignment, then idle agents converge on stragglers with backup copies.

The workload it exists for: a straggler, one assignment that hangs (a stuck connection, a
GC pause, a retry storm upstream) while the rest of the job is done: a backup copy on an
idle agent finishes it, and the first result wins.

``assign(state, rng)``:

1. *Fair assignment*: exactly ROUND_ROBIN's rule: idle, healthy agents in agent-id order take
   the next pending partitions in partition-id order, ``min(max_batch, ceil(backlog / idle))``
   each.
2. *Convergence* (only once the backlog is drained: when step 1 handed out the whole backlog,
   or nothing was pending, and some idle agents are left over): the left-over agents
   get *backup* assignments (``Assignment(backup=True)``) copying stragglers.

A *straggler* is an in-flight partition whose oldest copy has run longer than
``straggler_factor`` x its expected duration (its *deadline* has passed). The expected
duration is the items in flight on the agent running it (its whole assignment; the smallest
such load over its copies) divided by the pool's *median* throughput, so a consistently slow
agent's work counts as straggling too. Nothing is a straggler while no throughput is known.

Each partition has at most ``max_backups`` backup copies (``len(running_on) - 1`` so far, plus
the copies made this round). Backups are spread over the left-over agents in agent-id order
(agents on a failure streak last), a fair batch each (``min(max_batch, ceil(copy slots /
agents))``), the least-copied and then the most overdue (earliest deadline) stragglers first;
an agent never copies a partition it already runs, nor one that failed on it while another
healthy agent has not failed it. The first result of a partition wins and is counted once
(the workflow does the counting). No memory; ``rng`` is unused.

*Timing*: rounds follow completions, and the last completion before the tail may come before
any straggler is overdue; :meth:`SwarmingPolicy.review_at` gives the next deadline, at which
the workflow should wake up for a round (a timer) if agents are idle.
"""

from __future__ import annotations

import random

from swarm.policies.common import (
    BasePolicy,
    fair_batch,
    fair_deal,
    healthy_ids,
    idle_ids,
    in_flight_loads,
    may_run,
    median_throughput,
)
from swarm.scheduling import Assignment, PartitionView, RoundState, SwarmBehavior

__all__ = ["SwarmingPolicy"]


class SwarmingPolicy(BasePolicy):
    """Fair assignment, then backup copies of stragglers once nothing is pending."""

    behavior = SwarmBehavior.SWARMING

    def deadlines(self, state: RoundState) -> list[tuple[float, PartitionView]]:
        """When each in-flight partition becomes a straggler (workflow time), earliest first.

        ``started_at + straggler_factor x expected duration``; empty while no throughput is
        known. A deadline before ``state.now`` means the partition is a straggler now.
        """
        typical = median_throughput(state)
        if typical <= 0:
            return []
        loads = in_flight_loads(state)
        found: list[tuple[float, PartitionView]] = []
        for partition in state.in_flight:
            if partition.started_at is not None and partition.running_on:
                expected = min(loads[agent].items for agent in partition.running_on) / typical
                deadline = partition.started_at + state.config.straggler_factor * expected
                found.append((deadline, partition))
        return sorted(found, key=lambda item: (item[0], item[1].partition_id))

    def stragglers(self, state: RoundState) -> list[PartitionView]:
        """The stragglers, most overdue (earliest deadline) first."""
        return [p for deadline, p in self.deadlines(state) if deadline < state.now]

    def review_at(self, state: RoundState) -> float | None:
        """The next time a partition in flight becomes a straggler, or None.

        Rounds normally follow completions; a workflow should also wake up at this time (when
        agents are idle), or no round may happen while a straggler is overdue.
        """
        return next((d for d, _ in self.deadlines(state) if d >= state.now), None)

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """Fair assignment of the pending partitions, then backups for left-over agents."""
        assignments = fair_deal(state)
        handed_out = sum(len(a.partition_ids) for a in assignments)
        if handed_out < state.backlog or state.config.max_backups <= 0:
            return assignments
        busy = {a.agent_id for a in assignments}
        failures = {a.agent_id: a.failures for a in state.agents}
        left_over = [a for a in idle_ids(state) if a not in busy]
        left_over.sort(key=lambda agent: failures[agent] > 0)
        return assignments + self._backups(state, left_over)

    def _backups(self, state: RoundState, agents: list[str]) -> list[Assignment]:
        limit = state.config.max_backups
        stragglers = self.stragglers(state)
        copies = {p.partition_id: len(p.running_on) - 1 for p in stragglers}
        slots = sum(max(0, limit - n) for n in copies.values())
        if not agents or slots == 0:
            return []
        batch = fair_batch(slots, len(agents), state.config.max_batch)
        healthy = healthy_ids(state)
        backups: list[Assignment] = []
        for agent in agents:
            chosen: list[int] = []
            for partition in sorted(stragglers, key=lambda p: copies[p.partition_id]):
                pid = partition.partition_id
                if (
                    len(chosen) < batch
                    and copies[pid] < limit
                    and agent not in partition.running_on
                    and may_run(partition, agent, healthy)
                ):
                    chosen.append(pid)
                    copies[pid] += 1
            if chosen:
                backups.append(Assignment(agent, tuple(sorted(chosen)), backup=True))
        return backups
