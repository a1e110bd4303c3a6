"""A pure discrete-event simulator of the swarm workflow's scheduling loop, for policy tests.

It drives a policy the way ``SwarmWorkflow`` (with ``SwarmState``) does, round by round:

1. build a :class:`RoundState`: agents sorted by id; ``pending`` is a window of the FIFO
   backlog (``max(1, idle) x max_batch x window_per_slot`` longest-waiting partitions; None
   shows them all) with ``pending_count`` the whole backlog; in-flight partitions by id, with
   ``running_on``, ``started_at`` (oldest copy) and ``failed_on``;
2. ``policy.assign(state, rng)`` with one ``random.Random(seed)`` for the whole run, then
   ``avoid_repeat_failures`` and :func:`check_assignments` (a broken rule raises
   :class:`SchedulingError`);
3. start every assignment: it runs ``sum(items) / speed`` seconds on its agent (or what the
   ``cost`` model says);
4. advance the clock to the next completion; every assignment ending at that instant finishes
   (in agent-id order) and ``policy.observe(outcome)`` learns of it; copies whose partitions are
   all done elsewhere are then cancelled (no outcome; their agents are idle again); next round.

A *failing* agent runs its assignments for the same time and then fails them: each partition
records the agent in ``failed_on`` and, unless another copy still runs, goes back to the end
of the queue with ``attempts + 1``; after ``max_failures`` failures in a row the agent is
unhealthy. The first successful result of a partition wins and is counted once; an outcome's
``items`` are the items it completed first. Throughput is the workflow's moving average of
items/s per successful assignment (the newest weighs 0.3).

With ``tick_s`` set, the workflow also wakes up ``tick_s`` seconds after a round while a
healthy agent is idle, and runs a round without outcomes (a timer; SWARMING needs one to see
stragglers that become overdue after the last completion).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from swarm.scheduling import (
    AgentView,
    Assignment,
    Outcome,
    PartitionView,
    Policy,
    PolicyConfig,
    RoundState,
    avoid_repeat_failures,
    check_assignments,
)

__all__ = [
    "Cost",
    "SimAgent",
    "SimPartition",
    "SimResult",
    "SimulationError",
    "Step",
    "simulate",
]

_EMA = 0.3


Cost = Callable[[str, Sequence["SimPartition"], float], Sequence[float]]
"""How long ``agent`` takes for each partition of an assignment started at this time (s):
the assignment takes their sum, and its outcome carries them as ``durations_s``."""


class SimulationError(RuntimeError):
    """The run cannot finish: pending work, nothing in flight and no assignment (or too long)."""


@dataclass(frozen=True)
class SimAgent:
    """An agent: ``speed`` in items/s; ``fails`` makes every assignment of it fail."""

    agent_id: str
    speed: float
    fails: bool = False
    location: str | None = None
    upstream: str | None = None


@dataclass(frozen=True)
class SimPartition:
    """A partition of ``items`` items, in group ``key``."""

    partition_id: int
    items: int
    key: str | None = None


@dataclass(frozen=True)
class Step:
    """One round as the policy saw it: the state, its answer, then the outcomes it observed."""

    state: RoundState
    assignments: tuple[Assignment, ...]
    outcomes: tuple[Outcome, ...]


@dataclass
class SimResult:
    """How a run went."""

    makespan: float = 0.0
    rounds: int = 0
    counted: Counter[int] = field(default_factory=Counter)
    winners: dict[int, str] = field(default_factory=dict)
    attempts: Counter[int] = field(default_factory=Counter)
    failed_on: dict[int, list[str]] = field(default_factory=dict)
    backed_up: set[int] = field(default_factory=set)
    failures: int = 0
    assignments: int = 0
    filtered: int = 0
    """Assignments ``avoid_repeat_failures`` changed (0 when the policy keeps the rule itself)."""
    cancelled: int = 0
    steps: list[Step] = field(default_factory=list)


@dataclass
class _Agent:
    spec: SimAgent
    items_done: int = 0
    assignments_done: int = 0
    failures: int = 0
    throughput: float = 0.0
    healthy: bool = True

    def view(self, idle: bool) -> AgentView:
        return AgentView(
            agent_id=self.spec.agent_id,
            idle=idle,
            healthy=self.healthy,
            location=self.spec.location,
            upstream=self.spec.upstream,
            throughput=self.throughput,
            items_done=self.items_done,
            assignments_done=self.assignments_done,
            failures=self.failures,
        )


@dataclass(frozen=True)
class _Run:
    assignment: Assignment
    started: float
    ends: float
    durations: tuple[float, ...] = ()


@dataclass
class _Sim:
    """The mutable world of one run."""

    policy: Policy
    config: PolicyConfig
    pool: dict[str, _Agent]
    parts: dict[int, SimPartition]
    window_per_slot: int | None
    max_failures: int
    cost: Cost | None = None
    queue: dict[int, None] = field(default_factory=dict)  # FIFO backlog
    copies: dict[int, dict[str, float]] = field(default_factory=dict)  # agent -> start
    runs: dict[str, _Run] = field(default_factory=dict)
    result: SimResult = field(default_factory=SimResult)
    now: float = 0.0
    done_items: int = 0

    def view(self, pid: int) -> PartitionView:
        running = self.copies[pid]
        part = self.parts[pid]
        return PartitionView(
            partition_id=pid,
            items=part.items,
            key=part.key,
            attempts=self.result.attempts[pid],
            running_on=tuple(running),
            started_at=min(running.values()) if running else None,
            failed_on=tuple(self.result.failed_on.get(pid, ())),
        )

    def round_state(self) -> RoundState:
        agents = [a.view(idle=agent_id not in self.runs) for agent_id, a in self.pool.items()]
        idle = sum(1 for a in agents if a.idle and a.healthy)
        window = None
        if self.window_per_slot is not None:
            window = max(1, idle) * self.config.max_batch * self.window_per_slot
        live = [pid for pid in self.parts if pid not in self.result.winners and self.copies[pid]]
        return RoundState(
            round=self.result.rounds,
            now=self.now,
            agents=agents,
            pending=[self.view(pid) for pid in itertools.islice(self.queue, window)],
            in_flight=[self.view(pid) for pid in live],
            total_items=sum(p.items for p in self.parts.values()),
            done_items=self.done_items,
            config=self.config,
            pending_count=len(self.queue),
        )

    def start(self, assignment: Assignment) -> None:
        parts = [self.parts[pid] for pid in assignment.partition_ids]
        durations: tuple[float, ...] = ()
        if self.cost is None:
            took = sum(p.items for p in parts) / self.pool[assignment.agent_id].spec.speed
        else:
            durations = tuple(self.cost(assignment.agent_id, parts, self.now))
            took = sum(durations)
        ends = self.now + took
        self.runs[assignment.agent_id] = _Run(assignment, self.now, ends, durations)
        for pid in assignment.partition_ids:
            self.copies[pid][assignment.agent_id] = self.now
            self.queue.pop(pid, None)
            if assignment.backup:
                self.result.backed_up.add(pid)

    def finish(self, agent: _Agent, run: _Run) -> Outcome:
        agent_id, pids = agent.spec.agent_id, run.assignment.partition_ids
        duration = run.ends - run.started
        for pid in pids:
            self.copies[pid].pop(agent_id, None)
        won = 0
        if agent.spec.fails:
            agent.failures += 1
            agent.healthy = agent.failures < self.max_failures
            self.result.failures += 1
            for pid in pids:
                failed_on = self.result.failed_on.setdefault(pid, [])
                if agent_id not in failed_on:
                    failed_on.append(agent_id)
                if pid not in self.result.winners and not self.copies[pid]:
                    self.result.attempts[pid] += 1
                    self.queue[pid] = None
        else:
            for pid in pids:
                if pid not in self.result.winners:
                    self.result.winners[pid] = agent_id
                    self.result.counted[pid] += 1
                    won += self.parts[pid].items
            agent.failures = 0
            agent.items_done += won
            agent.assignments_done += 1
            rate = won / duration if duration > 0 else 0.0
            agent.throughput = (
                rate if not agent.throughput else _EMA * rate + (1 - _EMA) * agent.throughput
            )
            self.done_items += won
        keys = tuple(self.parts[pid].key for pid in pids)
        durations = () if agent.spec.fails else run.durations
        return Outcome(agent_id, pids, won, duration, not agent.spec.fails, keys, durations)

    def cancel_redundant(self) -> None:
        for agent_id in sorted(self.runs):
            run = self.runs[agent_id]
            if all(pid in self.result.winners for pid in run.assignment.partition_ids):
                del self.runs[agent_id]
                for pid in run.assignment.partition_ids:
                    self.copies[pid].pop(agent_id, None)
                self.result.cancelled += 1


def simulate(
    policy: Policy,
    agents: Sequence[SimAgent],
    partitions: Sequence[SimPartition],
    *,
    config: PolicyConfig,
    seed: int = 0,
    max_failures: int = 3,
    window_per_slot: int | None = 4,
    tick_s: float | None = None,
    max_rounds: int = 100_000,
    cost: Cost | None = None,
) -> SimResult:
    """Run ``policy`` until every partition is done (see the module docstring); ``cost``
    replaces ``items / speed`` as an assignment's duration."""
    rng = random.Random(seed)
    sim = _Sim(
        policy=policy,
        config=config,
        pool={a.agent_id: _Agent(a) for a in sorted(agents, key=lambda a: a.agent_id)},
        parts={p.partition_id: p for p in sorted(partitions, key=lambda p: p.partition_id)},
        window_per_slot=window_per_slot,
        max_failures=max_failures,
        cost=cost,
    )
    sim.queue = dict.fromkeys(sim.parts)
    sim.copies = {pid: {} for pid in sim.parts}
    result = sim.result
    while len(result.winners) < len(sim.parts):
        result.rounds += 1
        if result.rounds > max_rounds:
            raise SimulationError(f"no end after {max_rounds} rounds")
        state = sim.round_state()
        proposed = policy.assign(state, rng)
        assignments = avoid_repeat_failures(state, proposed)
        result.filtered += sum(1 for a, b in itertools.zip_longest(proposed, assignments) if a != b)
        check_assignments(state, assignments)
        for assignment in assignments:
            sim.start(assignment)
        result.assignments += len(assignments)
        if not sim.runs:
            raise SimulationError(f"round {result.rounds}: pending work but nothing to run")
        idle_left = any(a.healthy and i not in sim.runs for i, a in sim.pool.items())
        wake = sim.now + tick_s if tick_s is not None and idle_left else float("inf")
        sim.now = min(wake, *(run.ends for run in sim.runs.values()))
        outcomes: list[Outcome] = []
        for agent_id in sorted(a for a, run in sim.runs.items() if run.ends == sim.now):
            outcome = sim.finish(sim.pool[agent_id], sim.runs.pop(agent_id))
            policy.observe(outcome)
            outcomes.append(outcome)
        sim.cancel_redundant()
        result.steps.append(Step(state, tuple(assignments), tuple(outcomes)))
    result.makespan = sim.now
    return result
