"""Agent health: a score in [0, 1] and a lifecycle status, both computed at read time.

Pure functions: the clock is an argument (``now``), nothing here does I/O.

**Health score.** From the agent's last heartbeat (``cpu_usage`` and ``error_rate`` in 0..1,
``response_time_ms``) and from how long it has been silent::

    h_cpu     = 1 - max(0, cpu_usage - 0.7) / 0.3          # full marks up to 70 % CPU
    h_err     = max(0, 1 - error_rate / 0.25)               # 0 at 25 % errors or more
    h_rt      = 1 if rt <= 500 else max(0, 1 - (rt - 500) / 4500)   # 0 at 5 s or more
    metrics   = 0.2 * h_cpu + 0.5 * h_err + 0.3 * h_rt
    freshness = 1                        while silent <= 1.5 x heartbeat_interval
                then linear down to 0    at silent = deregistration_timeout
    health    = metrics x freshness

A metric the agent did not report counts as healthy (its term is 1). An agent registered but
never heartbeating has ``metrics = 1``. ``silent`` is the time since the agent was last seen:
its last heartbeat or its last (re-)registration, whichever is later — registering is a sign
of life too.

**Status**, first match wins:

=============  ==============================================================
DEREGISTERED   silent > deregistration_timeout (due for removal)
INACTIVE       silent > 3 x heartbeat_interval, or health < 0.3
DEGRADED       silent > 1.5 x heartbeat_interval, or health < 0.7
ACTIVE         otherwise
=============  ==============================================================

Because both are computed from the latest heartbeat whenever they are read, an agent is
ACTIVE again as soon as healthy heartbeats resume; nothing is sticky.

**Self-preservation.** When more than half of the agents (and at least three) are silent at
the same time, the likelier cause is a network partition or a registry outage, not a mass
death: eviction pauses until most agents are heard from again (:func:`should_pause_eviction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestration.core.exceptions import ValidationError
from registry.models import AgentStatus

__all__ = [
    "ACTIVE_HEALTH",
    "DEGRADED_HEALTH",
    "HealthAssessment",
    "HealthPolicy",
    "ReportedMetrics",
    "assess",
    "freshness",
    "health_score",
    "is_silent",
    "metrics_score",
    "should_pause_eviction",
    "silence",
    "status_for",
]

ACTIVE_HEALTH = 0.7
"""An agent below this health is DEGRADED."""
DEGRADED_HEALTH = 0.3
"""An agent below this health is INACTIVE."""

# Multiples of the heartbeat interval.
LATE_AFTER_INTERVALS = 1.5
SILENT_AFTER_INTERVALS = 3.0

_CPU_KNEE = 0.7
_ERROR_RATE_ZERO = 0.25
_RESPONSE_TIME_KNEE_MS = 500.0
_RESPONSE_TIME_ZERO_MS = 5000.0
_WEIGHTS = {"cpu": 0.2, "errors": 0.5, "response_time": 0.3}


class ReportedMetrics(Protocol):
    """A heartbeat's metrics (``registry.records.HeartbeatMetrics`` is one); None = not sent."""

    @property
    def cpu_usage(self) -> float | None: ...

    @property
    def error_rate(self) -> float | None: ...

    @property
    def response_time_ms(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """The registry's timing, in seconds (the quick reference's ``AgentRegistry`` arguments).

    Attributes:
        heartbeat_interval_s: how often agents are expected to heartbeat.
        health_check_interval_s: how often the registry re-evaluates every agent.
        deregistration_timeout_s: silence after which an agent is removed.

    Raises:
        ValidationError: a value is not positive, or the timeout is not longer than
            1.5 heartbeat intervals (the point where freshness starts to decay).
    """

    heartbeat_interval_s: float = 30.0
    health_check_interval_s: float = 60.0
    deregistration_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        for field in (
            "heartbeat_interval_s",
            "health_check_interval_s",
            "deregistration_timeout_s",
        ):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                problem = f"must be a positive number of seconds (got {value!r})"
                raise ValidationError.about(field, problem)
        if self.deregistration_timeout_s <= self.late_after_s:
            problem = (
                f"must be longer than 1.5 heartbeat intervals ({self.late_after_s:g} s), "
                f"got {self.deregistration_timeout_s:g} s"
            )
            raise ValidationError(
                f"deregistration_timeout_s {problem}",
                errors=[{"field": "deregistration_timeout_s", "problem": problem}],
            )

    @property
    def late_after_s(self) -> float:
        """Silence after which an agent is late: DEGRADED, and its freshness decays."""
        return LATE_AFTER_INTERVALS * self.heartbeat_interval_s

    @property
    def silent_after_s(self) -> float:
        """Silence after which an agent is INACTIVE and counts as silent."""
        return SILENT_AFTER_INTERVALS * self.heartbeat_interval_s


@dataclass(frozen=True, slots=True)
class HealthAssessment:
    """An agent's health at one instant."""

    health: float
    status: AgentStatus
    silent_s: float


def metrics_score(metrics: ReportedMetrics | None) -> float:
    """The score of the heartbeat's metrics alone, 0..1 (1 when nothing was reported)."""
    if metrics is None:
        return 1.0
    h_cpu = 1.0
    if metrics.cpu_usage is not None:
        h_cpu = 1.0 - max(0.0, metrics.cpu_usage - _CPU_KNEE) / (1.0 - _CPU_KNEE)
    h_err = 1.0
    if metrics.error_rate is not None:
        h_err = max(0.0, 1.0 - metrics.error_rate / _ERROR_RATE_ZERO)
    h_rt = 1.0
    if metrics.response_time_ms is not None and metrics.response_time_ms > _RESPONSE_TIME_KNEE_MS:
        span = _RESPONSE_TIME_ZERO_MS - _RESPONSE_TIME_KNEE_MS
        h_rt = max(0.0, 1.0 - (metrics.response_time_ms - _RESPONSE_TIME_KNEE_MS) / span)
    score = _WEIGHTS["cpu"] * h_cpu + _WEIGHTS["errors"] * h_err + _WEIGHTS["response_time"] * h_rt
    return _clamp(score)


def freshness(silent_s: float, policy: HealthPolicy) -> float:
    """1 while the agent is on time, then linear down to 0 at the deregistration timeout."""
    if silent_s <= policy.late_after_s:
        return 1.0
    span = policy.deregistration_timeout_s - policy.late_after_s
    return _clamp(1.0 - (silent_s - policy.late_after_s) / span)


def silence(last_seen: datetime, now: datetime) -> float:
    """Seconds since ``last_seen``; 0 when the clocks disagree and it lies in the future."""
    return max(0.0, (now - last_seen).total_seconds())


def health_score(
    metrics: ReportedMetrics | None, last_seen: datetime, now: datetime, policy: HealthPolicy
) -> float:
    """``metrics_score x freshness``, in [0, 1]."""
    return _clamp(metrics_score(metrics) * freshness(silence(last_seen, now), policy))


def status_for(health: float, silent_s: float, policy: HealthPolicy) -> AgentStatus:
    """The lifecycle status for a health score and a silence (see the module docstring)."""
    if silent_s > policy.deregistration_timeout_s:
        return AgentStatus.DEREGISTERED
    if silent_s > policy.silent_after_s or health < DEGRADED_HEALTH:
        return AgentStatus.INACTIVE
    if silent_s > policy.late_after_s or health < ACTIVE_HEALTH:
        return AgentStatus.DEGRADED
    return AgentStatus.ACTIVE


def assess(
    metrics: ReportedMetrics | None, last_seen: datetime, now: datetime, policy: HealthPolicy
) -> HealthAssessment:
    """Health score, status and silence of an agent last seen at ``last_seen``.

    Args:
        metrics: its last heartbeat's metrics, None if it never sent one.
        last_seen: its last heartbeat or (re-)registration, whichever is later.
        now: the time to assess at.
        policy: the registry's timing.
    """
    silent_s = silence(last_seen, now)
    health = _clamp(metrics_score(metrics) * freshness(silent_s, policy))
    return HealthAssessment(health, status_for(health, silent_s, policy), silent_s)


def is_silent(silent_s: float, policy: HealthPolicy) -> bool:
    """True when the agent missed about three heartbeats (what self-preservation counts)."""
    return silent_s > policy.silent_after_s


def should_pause_eviction(
    total: int, silent_now: int, threshold: float = 0.5, *, min_silent: int = 3
) -> bool:
    """Whether to pause evicting silent agents (self-preservation).

    When more than ``threshold`` of all agents are silent at once, the registry is more likely
    cut off from them (a partition, or its own outage) than they all died: evicting them would
    empty the registry for nothing. Fewer than ``min_silent`` silent agents never pause
    eviction, so a fleet of one or two can still lose a dead agent.

    Args:
        total: agents registered.
        silent_now: of those, agents silent right now (see :func:`is_silent`).
        threshold: the fraction of silent agents above which eviction pauses, in (0, 1].
        min_silent: the fewest silent agents that can pause eviction.

    Raises:
        ValidationError: ``threshold`` is outside (0, 1].
    """
    if not 0.0 < threshold <= 1.0:
        problem = f"must be in (0, 1] (got {threshold!r})"
        raise ValidationError.about("threshold", problem)
    if total <= 0 or silent_now < max(1, min_silent):
        return False
    return silent_now / total > threshold


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))
