"""Helpers shared by the swarm policies: batch sizes, ordering, rendezvous ranks, load views.

Everything here is pure and deterministic, as workflow code must be: no clock, no I/O, no
global random, no ``hash()`` of strings (salted per process), and every collection a policy
iterates over is sorted or built in a fixed order.

Conventions every policy follows:

* agents are considered in agent-id order and partitions in partition-id order unless the
  policy's rule says otherwise;
* ``state.pending`` may be only a window of the backlog (the longest waiting partitions);
  ``state.backlog`` counts them all, and policies only ever hand out partitions in the window;
* a partition's *class* is its ``key``, or ``"default"`` when it has none;
* the *fair batch* of a round is ``min(max_batch, ceil(backlog / idle agents))`` (at least 1),
  so pending work is spread over every idle agent;
* a partition does not go back to an agent in its ``failed_on`` while some healthy agent has
  not failed it (:func:`may_run`, the rule ``avoid_repeat_failures`` enforces in the workflow);
* ``assign`` reads its tuning from ``state.config`` (the tuning ``check_assignments`` enforces);
  the config given to the constructor serves ``observe``, which has no state;
* policies that place work ahead of time (CLUSTERING, MIGRATING) and SWARMING's backups put
  agents on a failure streak (``failures > 0``) after the others (:func:`preferred_ids`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from orchestration.core.hashing import RendezvousHasher
from swarm.scheduling import (
    Assignment,
    Outcome,
    PartitionView,
    PolicyConfig,
    RoundState,
    SwarmBehavior,
)

__all__ = [
    "DEFAULT_CLASS",
    "AgentLoad",
    "BasePolicy",
    "check_config",
    "deal",
    "fair_batch",
    "fair_deal",
    "hand_out",
    "healthy_ids",
    "idle_ids",
    "in_flight_loads",
    "may_run",
    "median_throughput",
    "partition_class",
    "preferred_ids",
    "rendezvous_order",
    "rendezvous_order_of_keys",
    "yield_batches",
]

DEFAULT_CLASS = "default"
"""The class of a partition without a key."""

_HASHER = RendezvousHasher()


def partition_class(key: str | None) -> str:
    """The partition class of ``key`` (``"default"`` for None)."""
    return DEFAULT_CLASS if key is None else key


def fair_batch(pending: int, agents: int, max_batch: int) -> int:
    """``min(max_batch, ceil(pending / agents))``, at least 1."""
    if pending <= 0 or agents <= 0:
        return 1
    return max(1, min(max_batch, math.ceil(pending / agents)))


def yield_batches(
    state: RoundState, agent_ids: Sequence[str], batch: int, full_share: float = 0.75
) -> dict[str, int]:
    """``batch`` for each of ``agent_ids``, scaled down in proportion (at least 1) for an
    agent under ``full_share`` x the pool's median throughput: a slow agent takes less at a
    time, so the rest of the pool is not left waiting on its last batch."""
    typical = median_throughput(state)
    speeds = {a.agent_id: a.throughput for a in state.agents}
    sizes = {}
    for agent in agent_ids:
        speed = speeds.get(agent, 0.0)
        share = speed / typical if typical > 0 and speed > 0 else 1.0
        share = 1.0 if share >= full_share else share
        sizes[agent] = max(1, min(batch, math.ceil(batch * share)))
    return sizes


def idle_ids(state: RoundState) -> list[str]:
    """The idle, healthy agents' ids, sorted."""
    return sorted(a.agent_id for a in state.idle_agents)


def healthy_ids(state: RoundState) -> list[str]:
    """The healthy agents' ids (idle or busy), sorted."""
    return sorted(a.agent_id for a in state.agents if a.healthy)


def preferred_ids(state: RoundState) -> list[str]:
    """Healthy agents without a failure streak, or every healthy agent if all have one."""
    clean = sorted(a.agent_id for a in state.agents if a.healthy and a.failures == 0)
    return clean or healthy_ids(state)


def rendezvous_order(agent_ids: Iterable[str], key: str) -> list[str]:
    """``agent_ids`` from the highest rendezvous weight for ``key`` to the lowest.

    The weight is ``RendezvousHasher().weight(agent_id, key)`` (BLAKE2b, stable across
    processes); dropping an agent moves only the keys it ranked first.
    """
    raw = key.encode("utf-8", "surrogatepass")
    return sorted(agent_ids, key=lambda agent: (_HASHER.weight(agent, raw), agent), reverse=True)


def rendezvous_order_of_keys(agent_id: str, keys: Iterable[str]) -> list[str]:
    """``keys`` from the highest rendezvous weight with ``agent_id`` to the lowest: each
    agent's own stable order of the keys, different from agent to agent."""
    return sorted(
        keys,
        key=lambda key: (_HASHER.weight(agent_id, key.encode("utf-8", "surrogatepass")), key),
        reverse=True,
    )


def may_run(partition: PartitionView, agent_id: str, healthy: Collection[str]) -> bool:
    """False if ``partition`` failed on ``agent_id`` while a healthy agent has not failed it."""
    return agent_id not in partition.failed_on or set(healthy) <= set(partition.failed_on)


def deal(
    agent_ids: Sequence[str],
    partitions: Sequence[PartitionView],
    batch: int,
    healthy: Collection[str],
) -> list[Assignment]:
    """Each agent in order takes the next ``batch`` partitions it :func:`may_run`."""
    remaining = list(partitions)
    assignments: list[Assignment] = []
    for agent in agent_ids:
        chosen = [p for p in remaining if may_run(p, agent, healthy)][:batch]
        if chosen:
            assignments.append(Assignment(agent, tuple(p.partition_id for p in chosen)))
            taken = {p.partition_id for p in chosen}
            remaining = [p for p in remaining if p.partition_id not in taken]
    return assignments


def fair_deal(state: RoundState) -> list[Assignment]:
    """Idle agents in id order take the next pending partitions in id order, a fair batch each."""
    idle = idle_ids(state)
    pending = sorted(state.pending, key=lambda p: p.partition_id)
    batch = fair_batch(state.backlog, len(idle), state.config.max_batch)
    return deal(idle, pending, batch, frozenset(healthy_ids(state)))


def hand_out(
    agent_ids: Sequence[str], queues: Mapping[str, Sequence[int]], size: Callable[[str], int]
) -> list[Assignment]:
    """Each agent takes the head of its own queue: ``size(agent)`` partitions (at least 1)."""
    assignments: list[Assignment] = []
    for agent in agent_ids:
        queue = queues.get(agent, ())
        if queue:
            assignments.append(Assignment(agent, tuple(queue[: max(1, size(agent))])))
    return assignments


def steal(
    state: RoundState, queues: Mapping[str, Sequence[int]], given: Sequence[Assignment]
) -> list[Assignment]:
    """Work stealing for static plans: every idle agent left without work takes half (rounded
    up) of the longest queue of an agent that is busy right now, from that queue's tail (the
    owner keeps the partitions it will reach first), never a partition it :func:`may_run` not.
    A busy agent's last queued partition is stolen too: an idle agent starts it now, where its
    owner would start it only after what it is running.

    Returns the extra assignments; ``given`` are this round's assignments so far.
    """
    healthy = healthy_ids(state)
    pending = {p.partition_id: p for p in state.pending}
    served = {a.agent_id for a in given}
    taken = {p for a in given for p in a.partition_ids}
    busy = {a.agent_id for a in state.agents if not a.idle}
    left = {
        owner: [p for p in queue if p not in taken]
        for owner, queue in queues.items()
        if owner in busy
    }
    extra: list[Assignment] = []
    for thief in idle_ids(state):
        if thief in served:
            continue
        victim = max(sorted(left), key=lambda owner: len(left[owner]), default=None)
        if victim is None or len(left[victim]) < (1 if state.steal_last else 2):
            break
        queue = left[victim]
        half = (len(queue) + 1) // 2 if state.steal_last else len(queue) // 2
        share = min(state.config.max_batch, half)
        chosen = [p for p in reversed(queue) if may_run(pending[p], thief, healthy)][:share]
        if chosen:
            left[victim] = [p for p in queue if p not in chosen]
            extra.append(Assignment(thief, tuple(sorted(chosen))))
    return extra


@dataclass(frozen=True)
class AgentLoad:
    """What one agent has in flight: its items and when its oldest copy started (or None)."""

    items: int
    since: float | None


def in_flight_loads(state: RoundState) -> dict[str, AgentLoad]:
    """The in-flight items and start time of every agent running something, by agent id."""
    items: dict[str, int] = {}
    since: dict[str, float | None] = {}
    for partition in sorted(state.in_flight, key=lambda p: p.partition_id):
        for agent in partition.running_on:
            items[agent] = items.get(agent, 0) + partition.items
            start, previous = partition.started_at, since.get(agent)
            if previous is None or (start is not None and start < previous):
                since[agent] = start
    return {agent: AgentLoad(items[agent], since[agent]) for agent in sorted(items)}


def median_throughput(state: RoundState) -> float:
    """The median of the agents' positive throughputs (items/s), or 0.0 if none is known."""
    known = sorted(a.throughput for a in state.agents if a.throughput > 0)
    return float(statistics.median(known)) if known else 0.0


def check_config(config: PolicyConfig) -> PolicyConfig:
    """``config`` if its values make sense, else :class:`ValueError`."""
    problems = [
        name
        for name, ok in (
            ("max_batch >= 1", config.max_batch >= 1),
            ("neighbor_radius >= 0", config.neighbor_radius >= 0),
            ("0 <= pheromone_evaporation_rate <= 1", 0 <= config.pheromone_evaporation_rate <= 1),
            ("0 <= scout_fraction <= 1", 0 <= config.scout_fraction <= 1),
            ("load_cap > 0", config.load_cap > 0),
            ("migration_margin >= 0", config.migration_margin >= 0),
            ("straggler_factor > 0", config.straggler_factor > 0),
            ("max_backups >= 0", config.max_backups >= 0),
        )
        if not ok
    ]
    if problems:
        raise ValueError(f"invalid PolicyConfig: need {', '.join(problems)}")
    return config


class BasePolicy:
    """Plumbing for the policies: config, a no-op ``observe`` and tagged ``export``/``restore``.

    ``export()`` returns ``{"behavior": <value>, **memory}``; ``restore`` refuses memory tagged
    with another behaviour. Policies with memory override :meth:`_memory` and :meth:`_load`.
    """

    behavior: SwarmBehavior = SwarmBehavior.ROUND_ROBIN

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = check_config(config or PolicyConfig())

    def observe(self, outcome: Outcome) -> None:
        """Nothing to learn (policies with memory override this)."""

    def review_at(self, state: RoundState) -> float | None:
        """No wake-up needed: rounds after completions are enough (SWARMING overrides)."""
        return None

    def export(self) -> dict[str, Any]:
        """The policy's memory as JSON-able data, tagged with its behaviour."""
        return {"behavior": self.behavior.value, **self._memory()}

    @classmethod
    def restore(cls, memory: Mapping[str, Any], config: PolicyConfig) -> Self:
        """The policy again from ``memory`` (an :meth:`export`), ready to continue."""
        tag = memory.get("behavior", cls.behavior.value)
        if tag != cls.behavior.value:
            raise ValueError(f"memory of a {tag!r} policy given to {cls.behavior.value!r}")
        return cls._load(memory, config)

    def _memory(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _load(cls, memory: Mapping[str, Any], config: PolicyConfig) -> Self:
        return cls(config)
