"""Errors of the agent registry. All derive from :class:`orchestration.exceptions.RegistryError`."""

from __future__ import annotations

from orchestration.exceptions import RegistryError

__all__ = ["AgentNotFoundError"]


class AgentNotFoundError(RegistryError, LookupError):
    """No agent with this id is registered (never was, deregistered, or evicted as silent).

    An agent that gets this in reply to a heartbeat should register again. It is also a
    ``LookupError``.

    Attributes:
        agent_id: the id that was looked up.
    """

    def __init__(self, agent_id: str) -> None:
        super().__init__(
            f"agent {agent_id!r} is not registered: register it first "
            "(agents silent past the deregistration timeout are removed and must re-register)"
        )
        self._agent_id = agent_id

    @property
    def agent_id(self) -> str:
        return self._agent_id
