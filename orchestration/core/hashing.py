"""Stable hashing of agents and keys: the same answer in every process and on every run.

Python's ``hash()`` of a string is salted per process and would reshuffle keys on restart;
these hash with BLAKE2b. The router's key-based strategies and the swarm policies both use
them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol, TypeVar

__all__ = ["RendezvousHasher", "encode_key"]

_DIGEST_SIZE = 16


class _HasAgentId(Protocol):
    @property
    def agent_id(self) -> str: ...


C = TypeVar("C", bound=_HasAgentId)


def encode_key(text: str) -> bytes:
    """``text`` as the bytes hashed for it (any string, lone surrogates included)."""
    return text.encode("utf-8", "surrogatepass")


class RendezvousHasher:
    """Rendezvous (highest random weight) hashing with a stable hash.

    The weight of agent ``a`` for key ``k`` is ``blake2b(len(a) || a || k)``; a key belongs to
    the candidate with the highest weight. Removing one candidate therefore moves exactly the
    keys that candidate held, and adding one takes about ``1/N`` of the keys from the others.
    The per-agent hash prefix is computed once and copied for each key, so a decision costs
    one short hash per candidate.

    Args:
        max_agents: how many agent prefixes to keep; the cache is cleared when it is full.
    """

    def __init__(self, *, max_agents: int = 4096) -> None:
        self._max_agents = max_agents
        self._prefixes: dict[str, hashlib.blake2b] = {}

    def _prefix(self, agent_id: str) -> hashlib.blake2b:
        prefix = self._prefixes.get(agent_id)
        if prefix is None:
            if len(self._prefixes) >= self._max_agents:
                self._prefixes.clear()
            raw = encode_key(agent_id)
            prefix = hashlib.blake2b(len(raw).to_bytes(4, "big") + raw, digest_size=_DIGEST_SIZE)
            self._prefixes[agent_id] = prefix
        return prefix

    def weight(self, agent_id: str, key: bytes) -> bytes:
        """The agent's weight for ``key``; compare weights as bytes, higher wins."""
        digest = self._prefix(agent_id).copy()
        digest.update(key)
        return digest.digest()

    def best(self, candidates: Sequence[C], key: bytes) -> C:
        """The candidate with the highest weight for ``key`` (``candidates`` must not be empty)."""
        best = candidates[0]
        best_weight = b""
        for candidate in candidates:
            weight = self.weight(candidate.agent_id, key)
            if weight > best_weight:
                best, best_weight = candidate, weight
        return best

    def ranked(self, candidates: Sequence[C], key: bytes) -> list[C]:
        """The candidates from the highest weight for ``key`` to the lowest."""
        return sorted(
            candidates, key=lambda candidate: self.weight(candidate.agent_id, key), reverse=True
        )
