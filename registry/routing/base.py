"""The interface every routing policy implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from registry.routing.types import Candidate, RouteRequest, RoutingStrategy

__all__ = ["Strategy", "load_score"]


@runtime_checkable
class Strategy(Protocol):
    """A routing policy: picks target agents among a rule's candidates.

    Implementations are pure in-memory policies: no I/O, no clock reads. Any state (a
    round-robin position, sticky assignments) lives in the object, kept per rule name, so one
    object may serve several rules. Not thread-safe: the router calls it from one event loop.
    """

    kind: RoutingStrategy

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Choose the target agents for one message.

        Args:
            candidates: registered, healthy agents in the rule's order of preference.
            request: the rule that matched, the message's key and priority.

        Returns:
            Agent ids, all taken from ``candidates``; empty only when ``candidates`` is.
        """
        ...

    def forget(self, rule: str) -> None:
        """Drop the state kept for ``rule`` (call it when the rule is removed)."""
        ...


def load_score(candidate: Candidate) -> float:
    """The candidate's :attr:`~registry.routing.types.LoadInfo.load_score`.

    A candidate that has not reported load yet scores 0.0, like an idle agent: a new agent
    gets traffic at once, and its first report (usually within a heartbeat) corrects the
    picture.
    """
    load = candidate.load
    return 0.0 if load is None else load.load_score
