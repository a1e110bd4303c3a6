"""What a swarm's scheduling policy sees each round, and what it answers.

A swarm job is split into partitions; a pool of agents processes them. Each scheduling round
the swarm workflow builds a :class:`RoundState` (which agents are idle, which partitions are
pending or in flight, what every agent achieved so far) and asks its behaviour's
:class:`Policy` for :class:`Assignment`\\ s: which partitions go to which *idle* agent. It then
runs each assignment as one activity on that agent's task queue, waits until one finishes,
tells the policy what happened (:class:`Outcome`) and starts the next round.

Policies are pure and deterministic: everything they know comes from the state, the outcomes
and the ``random.Random`` they are given (the workflow seeds it from ``workflow.random()``),
and their memory (pheromone, plans) round-trips through :meth:`Policy.export` /
``restore`` so it survives continue-as-new. The rules every policy keeps (checked by
:func:`check_assignments` in the workflow):

- only idle, healthy agents get work, at most one assignment each per round;
- a normal assignment takes pending partitions only, each partition at most once per round;
- a *backup* assignment (SWARMING) copies partitions that are in flight on another agent;
  the first result wins and is counted once;
- at most ``max_batch`` partitions per assignment.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from orchestration.core.exceptions import OrchestrationError
from orchestration.core.settings import SwarmConfig

__all__ = [
    "RULES",
    "AgentView",
    "Assignment",
    "Outcome",
    "PartitionView",
    "Policy",
    "PolicyConfig",
    "RoundState",
    "SchedulingError",
    "SwarmBehavior",
    "avoid_repeat_failures",
    "check_assignments",
]


class SwarmBehavior(StrEnum):
    """How a swarm schedules work (see ``swarm/policies``); ROUND_ROBIN is the plain baseline."""

    FORAGING = "foraging"
    FLOCKING = "flocking"
    SWARMING = "swarming"
    DISPERSING = "dispersing"
    CLUSTERING = "clustering"
    MIGRATING = "migrating"
    ROUND_ROBIN = "round_robin"


class SchedulingError(OrchestrationError, ValueError):
    """A policy broke one of the rules in the module docstring (a bug, not bad input)."""


_TUNING = SwarmConfig()

RULES = 2
"""The current revision of the behaviours' rules (``RoundState.revision``)."""


@dataclass(frozen=True)
class PolicyConfig:
    """Tuning shared by the policies; the defaults are ``SwarmConfig``'s (``ORCH_SWARM_*``).

    Attributes:
        max_batch: most partitions in one assignment.
        neighbor_radius: FLOCKING: agents closer than this in feature space are neighbours.
        pheromone_evaporation_rate: FORAGING: fraction of pheromone lost per observation.
        scout_fraction: FORAGING: share of choices made at random, to explore.
        load_cap: CLUSTERING: an agent holds at most ``load_cap`` x the average items.
        migration_margin: MIGRATING: move queued work only when the expected finish improves
            by more than this fraction.
        straggler_factor: SWARMING: an in-flight assignment is a straggler once it has run
            this many times its expected duration.
        max_backups: SWARMING: backup copies per partition at most.
    """

    max_batch: int = 10
    neighbor_radius: float = _TUNING.neighbor_radius
    pheromone_evaporation_rate: float = _TUNING.pheromone_evaporation_rate
    scout_fraction: float = _TUNING.scout_fraction
    load_cap: float = _TUNING.load_cap
    migration_margin: float = _TUNING.migration_margin
    straggler_factor: float = _TUNING.straggler_factor
    max_backups: int = _TUNING.max_backups

    @classmethod
    def from_tuning(cls, max_batch: int, tuning: Mapping[str, float]) -> PolicyConfig:
        """The config of a swarm: its ``max_batch`` and the ``SwarmConfig.policy_tuning()``
        its input carries (unknown keys ignored, integers where the config wants them)."""
        known = {f for f in cls.__dataclass_fields__ if f != "max_batch"}
        values: dict[str, Any] = {k: v for k, v in tuning.items() if k in known}
        if "max_backups" in values:
            values["max_backups"] = int(values["max_backups"])
        return cls(max_batch=max_batch, **values)


@dataclass(frozen=True)
class AgentView:
    """One agent of the pool as the workflow sees it this round.

    Attributes:
        agent_id: the agent (its task queue).
        idle: no assignment of this agent is in flight.
        healthy: False once the agent failed ``max_agent_failures`` times in a row or left
            the registry: no new work.
        location: where it runs (e.g. a region), or None.
        upstream: the data source it reads from, or None (FLOCKING keeps neighbours apart
            on shared upstreams).
        throughput: items per second over its recent assignments (0 before the first).
        items_done: items it processed successfully so far.
        assignments_done: assignments it finished successfully so far.
        failures: assignments that failed in a row (0 after a success).
    """

    agent_id: str
    idle: bool = True
    healthy: bool = True
    location: str | None = None
    upstream: str | None = None
    throughput: float = 0.0
    items_done: int = 0
    assignments_done: int = 0
    failures: int = 0


@dataclass(frozen=True)
class PartitionView:
    """One partition that is not finished yet.

    Attributes:
        partition_id: 0 .. data_partitions - 1.
        items: how many items it holds.
        key: its group (region, sector, upstream...) for CLUSTERING and FORAGING classes.
        attempts: assignments of it that failed so far.
        running_on: the agents it is in flight on (empty when pending).
        started_at: workflow time (s) its oldest in-flight copy started, or None.
        failed_on: the agents it failed on so far.
    """

    partition_id: int
    items: int = 1
    key: str | None = None
    attempts: int = 0
    running_on: tuple[str, ...] = ()
    started_at: float | None = None
    failed_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoundState:
    """Everything a policy may look at in one round.

    Attributes:
        round: 1 for the first round.
        now: workflow time in seconds.
        agents: the pool, sorted by agent id.
        pending: partitions waiting for an agent. In a large job only a window of them
            (the longest waiting, up to a few per idle agent and batch slot); see
            ``backlog`` for how many wait in all.
        in_flight: partitions being processed, by partition id.
        total_items: items in the whole job.
        done_items: items of partitions completed so far.
        config: the tuning.
        pending_count: how many partitions wait in all (None: all are in ``pending``).
        steal_last: work stealing may take a busy agent's last queued partition (false only
            when replaying swarms that started before that rule).
        revision: which rules the behaviours follow: :data:`RULES` (each module's docstring),
            or 1 when replaying swarms that started before the rules for their workloads
            (where a docstring says "revision 1").
    """

    round: int
    now: float
    agents: Sequence[AgentView]
    pending: Sequence[PartitionView]
    in_flight: Sequence[PartitionView]
    total_items: int
    done_items: int
    config: PolicyConfig = field(default_factory=PolicyConfig)
    pending_count: int | None = None
    steal_last: bool = True
    revision: int = 2

    @property
    def idle_agents(self) -> list[AgentView]:
        return [a for a in self.agents if a.idle and a.healthy]

    @property
    def backlog(self) -> int:
        """Partitions waiting in all (``pending`` may hold only a window of them)."""
        return len(self.pending) if self.pending_count is None else self.pending_count


@dataclass(frozen=True)
class Assignment:
    """Partitions for one idle agent; ``backup`` copies in-flight partitions (SWARMING)."""

    agent_id: str
    partition_ids: tuple[int, ...]
    backup: bool = False


@dataclass(frozen=True)
class Outcome:
    """How one assignment ended.

    Attributes:
        agent_id: who ran it.
        partition_ids: what it held.
        items: items processed successfully (0 when it failed).
        duration_s: the agent's busy time for it.
        success: False when the activity failed (after its retries) or timed out.
        keys: each partition's key, in ``partition_ids`` order (None where it has none).
        durations_s: each partition's busy time, in ``partition_ids`` order (empty when the
            agent did not report them, e.g. for a failed assignment).
    """

    agent_id: str
    partition_ids: tuple[int, ...]
    items: int
    duration_s: float
    success: bool
    keys: tuple[str | None, ...] = ()
    durations_s: tuple[float, ...] = ()


class Policy(Protocol):
    """A behaviour: decides each round's assignments (see the module docstring)."""

    behavior: SwarmBehavior

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """Assignments for idle agents this round (possibly none)."""
        ...

    def observe(self, outcome: Outcome) -> None:
        """Learn from one finished assignment."""
        ...

    def export(self) -> dict[str, Any]:
        """The policy's memory as JSON-able data (restored with ``restore(data, config)``)."""
        ...

    def review_at(self, state: RoundState) -> float | None:
        """Workflow time at which the policy wants another round even if no assignment
        ends before (e.g. SWARMING: when an in-flight partition becomes a straggler); None:
        rounds after completions are enough."""
        ...


def avoid_repeat_failures(state: RoundState, assignments: Sequence[Assignment]) -> list[Assignment]:
    """``assignments`` without partitions going back to an agent they already failed on,
    while some healthy agent has not failed them (those wait for another agent). A
    partition that failed on every healthy agent may go anywhere again."""
    healthy = {a.agent_id for a in state.agents if a.healthy}
    failed_on = {p.partition_id: set(p.failed_on) for p in state.pending if p.failed_on}
    if not failed_on:
        return list(assignments)
    kept: list[Assignment] = []
    for assignment in assignments:
        partitions = tuple(
            p
            for p in assignment.partition_ids
            if assignment.backup
            or assignment.agent_id not in failed_on.get(p, ())
            or healthy <= failed_on[p]
        )
        if partitions:
            kept.append(Assignment(assignment.agent_id, partitions, assignment.backup))
    return kept


def check_assignments(state: RoundState, assignments: Sequence[Assignment]) -> None:
    """Raise :class:`SchedulingError` if ``assignments`` break a rule of the module docstring."""
    idle = {a.agent_id for a in state.idle_agents}
    pending = {p.partition_id for p in state.pending}
    in_flight = {p.partition_id: p for p in state.in_flight}
    agents_seen: set[str] = set()
    taken: set[int] = set()
    for assignment in assignments:
        if assignment.agent_id not in idle:
            raise SchedulingError(f"{assignment.agent_id} is not an idle, healthy agent")
        if assignment.agent_id in agents_seen:
            raise SchedulingError(f"{assignment.agent_id} got two assignments in one round")
        agents_seen.add(assignment.agent_id)
        if not assignment.partition_ids:
            raise SchedulingError(f"an empty assignment for {assignment.agent_id}")
        if len(assignment.partition_ids) > state.config.max_batch:
            raise SchedulingError(
                f"{len(assignment.partition_ids)} partitions for {assignment.agent_id}, more "
                f"than max_batch={state.config.max_batch}"
            )
        for partition_id in assignment.partition_ids:
            if assignment.backup:
                running = in_flight.get(partition_id)
                if running is None:
                    raise SchedulingError(f"backup of partition {partition_id}, not in flight")
                if assignment.agent_id in running.running_on:
                    raise SchedulingError(
                        f"backup of partition {partition_id} on the agent already running it"
                    )
                continue
            if partition_id not in pending:
                raise SchedulingError(f"partition {partition_id} is not pending")
            if partition_id in taken:
                raise SchedulingError(f"partition {partition_id} assigned twice in one round")
            taken.add(partition_id)
