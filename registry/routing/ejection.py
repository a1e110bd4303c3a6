"""Outlier ejection: take an agent out of rotation after a run of failures, for a while.

Pure bookkeeping: the caller passes the time (``now``, seconds on any monotonic clock), so
the detector never reads a clock and tests drive it with plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from registry.routing.types import Candidate, _rejected

__all__ = ["OutlierDetector", "without_ejected"]


@dataclass(slots=True)
class _AgentRecord:
    consecutive_failures: int = 0
    ejections: int = 0
    ejected_until: float = -math.inf


class OutlierDetector:
    """Ejects agents that fail several times in a row, for a time that grows with repeats.

    After ``consecutive_failures`` failures with no success between them, an agent is ejected
    for ``base_ejection_s * n`` seconds, where ``n`` counts its ejections so far (this one
    included), capped at ``max_ejection_s``. When the time is up the agent is back with a clean
    failure count; an agent that stays back and succeeds for ``max_ejection_s`` has its
    ejection count reset, so an old incident stops lengthening new ejections. Failures reported
    while an agent is ejected (replies to messages sent before) are ignored.

    At most ``floor(max_ejected_fraction * known agents)`` agents are ejected at once, where
    known agents are those with any success or failure recorded: during a global outage every
    agent fails, and ejecting them all would leave nothing to route to. An agent refused
    ejection by this cap is ejected by its next failure once there is room.

    Args:
        consecutive_failures: failures in a row that eject an agent, at least 1.
        base_ejection_s: the first ejection's length in seconds.
        max_ejection_s: the longest ejection, at least ``base_ejection_s``.
        max_ejected_fraction: the largest share of known agents ejected at once, in [0, 1].

    Raises:
        orchestration.exceptions.ValidationError: a setting that cannot work.
    """

    def __init__(
        self,
        *,
        consecutive_failures: int = 5,
        base_ejection_s: float = 30.0,
        max_ejection_s: float = 300.0,
        max_ejected_fraction: float = 0.5,
    ) -> None:
        if consecutive_failures < 1:
            raise _rejected("consecutive_failures", consecutive_failures, "must be at least 1")
        if not base_ejection_s > 0.0:
            raise _rejected("base_ejection_s", base_ejection_s, "must be positive")
        if not max_ejection_s >= base_ejection_s:
            raise _rejected("max_ejection_s", max_ejection_s, "must be at least base_ejection_s")
        if not 0.0 <= max_ejected_fraction <= 1.0:
            raise _rejected("max_ejected_fraction", max_ejected_fraction, "must be in [0, 1]")
        self._threshold = consecutive_failures
        self._base = base_ejection_s
        self._max = max_ejection_s
        self._fraction = max_ejected_fraction
        self._records: dict[str, _AgentRecord] = {}
        # Agents that may still be ejected, so ejected() does not scan every known agent.
        self._ejected_until: dict[str, float] = {}

    def _record(self, agent_id: str) -> _AgentRecord:
        record = self._records.get(agent_id)
        if record is None:
            record = self._records[agent_id] = _AgentRecord()
        return record

    def record_success(self, agent_id: str, now: float) -> None:
        """Note a message the agent handled: its run of failures is over."""
        record = self._record(agent_id)
        record.consecutive_failures = 0
        if record.ejections and now >= record.ejected_until + self._max:
            record.ejections = 0

    def record_failure(self, agent_id: str, now: float) -> bool:
        """Note a message the agent failed.

        Returns:
            True when this failure ejected the agent.
        """
        record = self._record(agent_id)
        if now < record.ejected_until:
            return False
        record.consecutive_failures += 1
        if record.consecutive_failures < self._threshold:
            return False
        allowed = math.floor(self._fraction * len(self._records) + 1e-9)
        if len(self.ejected(now)) >= allowed:
            return False
        record.ejections += 1
        record.consecutive_failures = 0
        record.ejected_until = now + min(self._base * record.ejections, self._max)
        self._ejected_until[agent_id] = record.ejected_until
        return True

    def is_ejected(self, agent_id: str, now: float) -> bool:
        """Whether the agent is ejected at time ``now``."""
        return now < self._ejected_until.get(agent_id, -math.inf)

    def ejected(self, now: float) -> set[str]:
        """The agents ejected at time ``now``."""
        expired = [a for a, until in self._ejected_until.items() if until <= now]
        for agent_id in expired:
            del self._ejected_until[agent_id]
        return set(self._ejected_until)

    def forget(self, agent_id: str) -> None:
        """Drop everything known about the agent (call it when the agent deregisters)."""
        self._records.pop(agent_id, None)
        self._ejected_until.pop(agent_id, None)


def without_ejected(candidates: Sequence[Candidate]) -> Sequence[Candidate]:
    """The candidates not marked ejected, or all of them when every one is.

    For strategies other than FAILOVER (which ranks ejected candidates last by itself): the
    router can drop ejected agents before selecting, without ever leaving a rule with nothing.
    """
    kept = [candidate for candidate in candidates if not candidate.ejected]
    return kept if kept else candidates
