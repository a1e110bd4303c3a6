"""A running swarm's bookkeeping: partitions, agents, in-flight assignments, the reduction.

Pure and deterministic (workflow code uses it; tests drive it directly). Partition state is a
byte per partition (pending, done, failed for good) and a byte of failed attempts, so a
100,000-partition job carries about 270 KB across continue-as-new. A partition counts once:
the first successful result is reduced, later copies (SWARMING backups, redeliveries) are
ignored.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from swarm.scheduling import (
    RULES,
    AgentView,
    Outcome,
    PartitionView,
    PolicyConfig,
    RoundState,
)
from workflows.reducers import ReducerError, Reduction

__all__ = ["AgentStats", "InFlight", "SwarmState"]

PENDING, DONE, FAILED = 0, 1, 2
_EMA = 0.3
"""Weight of the newest assignment in an agent's throughput (its recent useful rate)."""
MAX_ERRORS = 20
"""Errors kept for the result (the first ones; later ones are counted, not kept)."""
MAX_REJECTED = 1000
"""Rejected rows kept for the manifest (the first ones; later ones are counted)."""
MAX_FAILURE_DETAILS = 2000
"""Partitions whose last error and agents are kept for the manifest."""
MAX_ERROR_TEXT = 300
WINDOW_PER_SLOT = 4
"""A round shows policies this many pending partitions per idle agent and batch slot."""


@dataclass
class AgentStats:
    """What one agent did in this swarm."""

    assignments: int = 0
    partitions: int = 0
    items: int = 0
    busy_ms: float = 0.0
    failures: int = 0
    consecutive_failures: int = 0
    backups: int = 0
    duplicates: int = 0
    throughput: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class InFlight:
    """One assignment being processed."""

    agent_id: str
    partition_ids: tuple[int, ...]
    started_at: float
    backup: bool = False


@dataclass
class SwarmState:
    """Partitions, agents and the reduction of one swarm (see the module docstring)."""

    agent_ids: list[str]
    items: list[int]
    keys: list[str | None]
    max_attempts: int
    max_agent_failures: int
    reduction: Reduction
    status: bytearray
    attempts: bytearray
    agents: dict[str, AgentStats]
    agent_info: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    in_flight: dict[int, InFlight] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    _running: dict[int, list[int]] = field(default_factory=dict)  # partition -> assignments
    _queue: dict[int, None] = field(default_factory=dict)  # pending, not running; FIFO
    failed_on: dict[int, list[str]] = field(default_factory=dict)  # partition -> agents
    last_error: dict[int, str] = field(default_factory=dict)  # partition -> its last error
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_REJECTED
    rejected_count: int = 0
    _done_items: int = 0
    _total_items: int = 0

    def __post_init__(self) -> None:
        self._recount()

    def _recount(self) -> None:
        self._total_items = sum(self.items)
        self._done_items = sum(n for n, s in zip(self.items, self.status, strict=True) if s == DONE)
        self._queue = {
            p: None for p, s in enumerate(self.status) if s == PENDING and p not in self._running
        }

    @classmethod
    def new(
        cls,
        agent_ids: list[str],
        items: list[int],
        keys: list[str | None],
        *,
        reducer: str,
        max_attempts: int,
        max_agent_failures: int,
    ) -> SwarmState:
        n = len(items)
        return cls(
            agent_ids=sorted(agent_ids),
            items=items,
            keys=keys,
            max_attempts=max_attempts,
            max_agent_failures=max_agent_failures,
            reduction=Reduction(reducer),
            status=bytearray(n),
            attempts=bytearray(n),
            agents={a: AgentStats() for a in sorted(agent_ids)},
        )

    # -- counts ---------------------------------------------------------------------------

    @property
    def total_items(self) -> int:
        return self._total_items

    @property
    def done_items(self) -> int:
        return self._done_items

    @property
    def queued(self) -> int:
        """Partitions waiting for an agent (pending and not running anywhere)."""
        return len(self._queue)

    def count(self, status: int) -> int:
        return self.status.count(status)

    def convergence(self) -> float:
        return self._done_items / self._total_items if self._total_items else 1.0

    def resolved(self) -> bool:
        """Every partition is done or failed for good."""
        return not self._queue and not self._running and PENDING not in self.status

    def busy_agents(self) -> set[str]:
        return {a.agent_id for a in self.in_flight.values()}

    # -- rounds ---------------------------------------------------------------------------

    def round_state(
        self,
        round_: int,
        now: float,
        config: PolicyConfig,
        *,
        steal_last: bool = True,
        revision: int = RULES,
    ) -> RoundState:
        busy = self.busy_agents()
        agents = []
        for agent_id in self.agent_ids:
            stats = self.agents[agent_id]
            location, upstream = self.agent_info.get(agent_id, (None, None))
            agents.append(
                AgentView(
                    agent_id=agent_id,
                    idle=agent_id not in busy,
                    healthy=stats.consecutive_failures < self.max_agent_failures,
                    location=location,
                    upstream=upstream,
                    throughput=stats.throughput,
                    items_done=stats.items,
                    assignments_done=stats.assignments - stats.failures,
                    failures=stats.consecutive_failures,
                )
            )
        idle = sum(1 for a in agents if a.idle and a.healthy)
        window = max(1, idle) * config.max_batch * WINDOW_PER_SLOT
        pending = [self._view(p) for p in itertools.islice(self._queue, window)]
        in_flight = [self._view(p) for p in sorted(self._running)]
        return RoundState(
            round=round_,
            now=now,
            agents=agents,
            pending=pending,
            in_flight=in_flight,
            total_items=self._total_items,
            done_items=self._done_items,
            config=config,
            pending_count=len(self._queue),
            steal_last=steal_last,
            revision=revision,
        )

    def _view(self, partition: int) -> PartitionView:
        running = self._running.get(partition, ())
        return PartitionView(
            partition_id=partition,
            items=self.items[partition],
            key=self.keys[partition],
            attempts=self.attempts[partition],
            running_on=tuple(self.in_flight[i].agent_id for i in running),
            started_at=min((self.in_flight[i].started_at for i in running), default=None),
            failed_on=tuple(self.failed_on.get(partition, ())),
        )

    def start(self, number: int, assignment: InFlight) -> None:
        """Record assignment ``number`` as in flight."""
        self.in_flight[number] = assignment
        for partition in assignment.partition_ids:
            self._running.setdefault(partition, []).append(number)
            self._queue.pop(partition, None)
        stats = self.agents[assignment.agent_id]
        stats.assignments += 1
        stats.backups += assignment.backup

    def abandon(self, number: int) -> None:
        """Forget assignment ``number`` (cancelled because its partitions were done elsewhere);
        nothing is counted for or against its agent."""
        assignment = self._release(number)
        for partition in assignment.partition_ids:
            if partition not in self._running and self.status[partition] == PENDING:
                self._queue[partition] = None

    def _release(self, number: int) -> InFlight:
        """Take assignment ``number`` out of flight (its partitions' copies with it)."""
        assignment = self.in_flight.pop(number)
        for partition in assignment.partition_ids:
            running = self._running.get(partition, [])
            if number in running:
                running.remove(number)
            if not running:
                self._running.pop(partition, None)
        return assignment

    def finish(
        self,
        number: int,
        *,
        results: dict[str, Any],
        errors: dict[str, str],
        busy_ms: float,
        failure: str | None = None,
        rejected: dict[str, list[dict[str, Any]]] | None = None,
        partition_ms: dict[str, float] | None = None,
    ) -> Outcome:
        """Apply assignment ``number``'s end: results reduced once (with the rows the
        counted copy rejected), failures counted; ``partition_ms`` (each partition's busy
        time, when the agent reported it) goes into the outcome."""
        assignment = self._release(number)
        stats = self.agents[assignment.agent_id]
        stats.busy_ms += busy_ms
        items = 0
        for partition in assignment.partition_ids:
            if failure is None and str(partition) in results:
                if self.status[partition] != PENDING:
                    stats.duplicates += 1  # a backup or a redelivery: counted once already
                    continue
                try:
                    self.reduction.add(partition, results[str(partition)])
                except ReducerError as exc:
                    self._fail(partition, f"{assignment.agent_id}: {exc}", final=True)
                    continue
                self.status[partition] = DONE
                self._done_items += self.items[partition]
                items += self.items[partition]
                stats.partitions += 1
                self.failed_on.pop(partition, None)
                self.last_error.pop(partition, None)
                self._reject(partition, (rejected or {}).get(str(partition), ()))
            else:
                reason = failure or errors.get(str(partition), "no result")
                agents = self.failed_on.setdefault(partition, [])
                if assignment.agent_id not in agents:
                    agents.append(assignment.agent_id)
                if partition in self.last_error or len(self.last_error) < MAX_FAILURE_DETAILS:
                    self.last_error[partition] = f"{assignment.agent_id}: {reason}"[:MAX_ERROR_TEXT]
                self._fail(partition, f"partition {partition} on {assignment.agent_id}: {reason}")
        stats.items += items
        success = failure is None and not errors
        if success:
            stats.consecutive_failures = 0
            if busy_ms > 0:
                rate = items / (busy_ms / 1000)
                stats.throughput = (
                    rate if not stats.throughput else (_EMA * rate + (1 - _EMA) * stats.throughput)
                )
        else:
            stats.failures += 1
            stats.consecutive_failures += 1
        return Outcome(
            agent_id=assignment.agent_id,
            partition_ids=assignment.partition_ids,
            items=items,
            duration_s=busy_ms / 1000,
            success=success,
            keys=tuple(self.keys[p] for p in assignment.partition_ids),
            durations_s=_durations(assignment.partition_ids, partition_ms),
        )

    def _reject(self, partition: int, entries: Any) -> None:
        for entry in entries:
            count = int(entry.get("more", 1))
            self.rejected_count += count
            if "more" not in entry and len(self.rejected) < MAX_REJECTED:
                self.rejected.append({"partition": partition, **entry})

    def mark_done(self, partitions: list[int]) -> None:
        """Count ``partitions`` as done before this swarm started (a redrive: their results
        are in the accumulator it starts from)."""
        for partition in partitions:
            self.status[partition] = DONE
        self._recount()

    def unfinished(self) -> list[int]:
        """The partitions not done: failed for good, or never run."""
        return [p for p, s in enumerate(self.status) if s != DONE]

    def _fail(self, partition: int, error: str, *, final: bool = False) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)
        if self.status[partition] != PENDING or partition in self._running:
            return  # done by another copy, or still running elsewhere
        self.attempts[partition] = min(255, self.attempts[partition] + 1)
        if final or self.attempts[partition] >= self.max_attempts:
            self.status[partition] = FAILED
        else:
            self._queue[partition] = None  # back in line, behind what waits already

    def healthy_agents(self) -> int:
        return sum(
            1 for s in self.agents.values() if s.consecutive_failures < self.max_agent_failures
        )

    # -- carrying across continue-as-new --------------------------------------------------

    def export(self) -> dict[str, Any]:
        return {
            "status": base64.b64encode(bytes(self.status)).decode(),
            "attempts": base64.b64encode(bytes(self.attempts)).decode(),
            "accumulator": self.reduction.accumulator,
            "agents": {a: s.to_json() for a, s in self.agents.items()},
            "errors": self.errors,
            "error_count": self.error_count,
            # Pending partitions' (to avoid repeating a failure) and the failed ones the
            # manifest details: a carry that does not grow with the failures.
            "failed_on": {
                str(p): a
                for p, a in self.failed_on.items()
                if self.status[p] == PENDING or p in self.last_error
            },
            "last_error": {str(p): e for p, e in self.last_error.items()},
            "rejected": self.rejected,
            "rejected_count": self.rejected_count,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.status = bytearray(base64.b64decode(data["status"]))
        self.attempts = bytearray(base64.b64decode(data["attempts"]))
        self.reduction = Reduction(self.reduction.name, data["accumulator"])
        self.agents = {a: AgentStats(**s) for a, s in data["agents"].items()}
        self.errors = list(data.get("errors", []))
        self.error_count = int(data.get("error_count", len(self.errors)))
        self.failed_on = {int(p): list(a) for p, a in data.get("failed_on", {}).items()}
        self.last_error = {int(p): str(e) for p, e in data.get("last_error", {}).items()}
        self.rejected = list(data.get("rejected", []))
        self.rejected_count = int(data.get("rejected_count", len(self.rejected)))
        self._running.clear()
        self.in_flight.clear()
        self._recount()


def _durations(
    partitions: tuple[int, ...], partition_ms: dict[str, float] | None
) -> tuple[float, ...]:
    """Each partition's busy time in seconds, in ``partitions`` order; empty unless all known."""
    if not partition_ms or any(str(p) not in partition_ms for p in partitions):
        return ()
    return tuple(float(partition_ms[str(p)]) / 1000 for p in partitions)
