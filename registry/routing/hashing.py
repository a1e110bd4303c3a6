"""Key-based routing: CONSISTENT_HASH (multi-probe consistent hashing) and AFFINITY (sticky,
bounded load). Rendezvous hashing, which swarm policies use, is
:class:`orchestration.core.hashing.RendezvousHasher`.

Both hash with BLAKE2b and SHAKE-128, which give the same answer in every process and on
every run (Python's ``hash()`` of a string is salted per process and would reshuffle keys on
restart).
"""

from __future__ import annotations

import hashlib
import math
import operator
import struct
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Sequence
from itertools import repeat

from orchestration.core.hashing import encode_key
from registry.routing.listcache import ListCache
from registry.routing.types import Candidate, RouteRequest, RoutingStrategy, _rejected

__all__ = ["AffinityStrategy", "ConsistentHashStrategy"]


class _KeylessRotation:
    """Round robin per rule, for requests that carry no key to hash."""

    def __init__(self) -> None:
        self._position: dict[str, int] = {}

    def next(self, candidates: Sequence[Candidate], rule: str) -> str:
        index = self._position.get(rule, 0) % len(candidates)
        self._position[rule] = index + 1
        return candidates[index].agent_id

    def forget(self, rule: str) -> None:
        self._position.pop(rule, None)


_PROBES = 21
"""How many points a key is hashed to on the ring (multi-probe consistent hashing)."""

_MASK = (1 << 64) - 1
_MEMO_KEYS = 16_384
"""How many keys each ring remembers the owner of."""
_PROBE_FORMAT = struct.Struct(f">{_PROBES}Q")


class _Ring:
    """Multi-probe consistent hashing (Appleton and O'Reilly, 2015) over one candidate list.

    Every agent has one point on a 64-bit ring, ``blake2b(len(a) || a)``; a key is hashed to
    21 probe points, ``shake_128(key)``, and belongs to the agent whose point follows one of
    its probes most closely. Removing an agent only lengthens the distances it ended, so
    exactly the keys it held move; adding one takes about ``1/N`` of the keys; the 21 probes
    keep every agent's share within a few percent of the mean. The ring is sorted once per
    candidate list, so a lookup is 21 binary searches instead of one hash per candidate.
    """

    __slots__ = ("_owner_of", "_successor", "members", "owners", "points")

    def __init__(self, candidates: list[Candidate], points: _AgentPoints) -> None:
        ring = sorted((points.get(c.agent_id), c.agent_id) for c in candidates)
        self.points = [point for point, _ in ring]
        self.owners = [agent_id for _, agent_id in ring]
        self.members = frozenset(self.owners)
        # The first point once more, a full turn on, so a probe past the last point needs no
        # wrap-around test: its successor distance is a plain subtraction.
        self._successor = [*self.points, self.points[0] + _MASK + 1].__getitem__
        self._owner_of: dict[str, int] = {}

    def owner_index(self, key: str) -> int:
        """:meth:`position` of ``key``, remembered: the ring never changes, so neither does
        the answer. Routing keys repeat (senders, tenants, suppliers), and a remembered key
        costs one dict lookup instead of 21 binary searches. At most ``_MEMO_KEYS`` keys are
        kept; the memo is cleared when full."""
        index = self._owner_of.get(key)
        if index is None:
            if len(self._owner_of) >= _MEMO_KEYS:
                self._owner_of.clear()
            index = self._owner_of[key] = self.position(encode_key(key))
        return index

    def refresh(
        self, old: list[Candidate], candidates: list[Candidate], changed: list[int]
    ) -> bool:
        """Still valid when the replaced entries are the same agents (a load report)."""
        return all(old[i].agent_id == candidates[i].agent_id for i in changed)

    def position(self, key: bytes) -> int:
        """The ring index of the agent that owns ``key``: the point that follows one of its
        probes most closely (of two equally close, the lower index: two different 64-bit
        distances are never equal in practice, and one point reached twice is one answer)."""
        probes = _PROBE_FORMAT.unpack(hashlib.shake_128(key).digest(8 * _PROBES))
        indices = list(map(bisect_left, repeat(self.points, _PROBES), probes))
        _, index = min(
            zip(map(operator.sub, map(self._successor, indices), probes), indices, strict=True)
        )
        return 0 if index == len(self.points) else index


class _AgentPoints:
    """Every agent's ring point, computed once; cleared when ``max_agents`` are held."""

    def __init__(self, *, max_agents: int = 65_536) -> None:
        self._max_agents = max_agents
        self._points: dict[str, int] = {}

    def get(self, agent_id: str) -> int:
        point = self._points.get(agent_id)
        if point is None:
            if len(self._points) >= self._max_agents:
                self._points.clear()
            raw = encode_key(agent_id)
            digest = hashlib.blake2b(len(raw).to_bytes(4, "big") + raw, digest_size=8).digest()
            point = self._points[agent_id] = int.from_bytes(digest, "big")
        return point


def _ring_cache(points: _AgentPoints) -> ListCache[_Ring]:
    return ListCache(lambda candidates: _Ring(candidates, points), _Ring.refresh)


class ConsistentHashStrategy:
    """CONSISTENT_HASH: each key goes to its owner on a consistent-hash ring of the candidates.

    Multi-probe consistent hashing (see :class:`_Ring`) over the candidates actually given, so
    the answer is always one of them and does not depend on their order; removing one of N
    candidates moves only the keys it held (about 1/N of them). The mapping needs no state:
    every router process, before and after a restart, agrees on it. The sorted ring of a
    candidate list is kept while the router passes that list, so a decision costs
    O(log candidates). A request without a key has nothing to be consistent about and takes
    the rule's round robin.
    """

    kind = RoutingStrategy.CONSISTENT_HASH

    def __init__(self) -> None:
        self._rings = _ring_cache(_AgentPoints())
        self._keyless = _KeylessRotation()

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the key's owner on the ring."""
        if not candidates:
            return []
        if request.key is None:
            return [self._keyless.next(candidates, request.rule)]
        if len(candidates) == 1:
            return [candidates[0].agent_id]
        ring = self._rings.get(candidates)
        return [ring.owners[ring.owner_index(request.key)]]

    def forget(self, rule: str) -> None:
        """Drop the rule's keyless rotation."""
        self._keyless.forget(rule)


class _Assignments:
    """One rule's sticky assignments: an LRU of key → agent, and how many keys each agent holds."""

    __slots__ = ("counts", "owner")

    def __init__(self) -> None:
        self.owner: OrderedDict[str, str] = OrderedDict()
        self.counts: dict[str, int] = {}

    def release(self, agent_id: str) -> None:
        left = self.counts[agent_id] - 1
        if left:
            self.counts[agent_id] = left
        else:
            del self.counts[agent_id]


class AffinityStrategy:
    """AFFINITY: the same key goes to the same agent, with a bound on any agent's share.

    Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018) over the
    multi-probe ring of :class:`ConsistentHashStrategy`. A rule remembers which agent each key
    went to. An agent may hold at most ``ceil(load_factor * keys / candidates)`` keys; a new
    key goes to its ring owner, or else to the first agent after it on the ring that is under
    that cap, so no agent takes more than its bounded share
    even when a few keys are very popular. A key stays with its agent as long as the agent is a
    candidate and within the cap. When an agent leaves, only its keys move (the cap can only
    grow when candidates leave); when agents join, keys on agents now above the cap move as
    they are next seen, which rebalances onto the newcomers.

    Memory is bounded: each rule keeps at most ``max_keys`` keys, forgetting the least
    recently routed first. A request without a key takes the rule's round robin.

    Args:
        load_factor: ``c`` in the cap, at least 1; 1.25 lets an agent hold 25% above average.
        max_keys: how many keys each rule remembers.

    Raises:
        orchestration.exceptions.ValidationError: a setting below its minimum.
    """

    kind = RoutingStrategy.AFFINITY

    def __init__(self, *, load_factor: float = 1.25, max_keys: int = 100_000) -> None:
        if not load_factor >= 1.0:
            raise _rejected("load_factor", load_factor, "must be at least 1")
        if max_keys < 1:
            raise _rejected("max_keys", max_keys, "must be at least 1")
        self._load_factor = load_factor
        self._max_keys = max_keys
        self._rules: dict[str, _Assignments] = {}
        self._rings = _ring_cache(_AgentPoints())
        self._keyless = _KeylessRotation()

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the key's sticky agent, assigning one under the load cap if needed."""
        n = len(candidates)
        if n == 0:
            return []
        key = request.key
        if key is None:
            return [self._keyless.next(candidates, request.rule)]
        table = self._rules.get(request.rule)
        if table is None:
            table = self._rules[request.rule] = _Assignments()
        ring = self._rings.get(candidates)
        owner = table.owner
        agent_id = owner.get(key)
        if agent_id is not None:
            if agent_id in ring.members and table.counts[agent_id] <= math.ceil(
                self._load_factor * len(owner) / n
            ):
                owner.move_to_end(key)
                return [agent_id]
            del owner[key]
            table.release(agent_id)
        if len(owner) >= self._max_keys:
            # Evict before placing, so the cap the new key sees is the one that holds after.
            _, evicted = owner.popitem(last=False)
            table.release(evicted)
        agent_id = self._place(table, ring, key)
        owner[key] = agent_id
        table.counts[agent_id] = table.counts.get(agent_id, 0) + 1
        return [agent_id]

    def _place(self, table: _Assignments, ring: _Ring, key: str) -> str:
        counts = table.counts
        owners = ring.owners
        n = len(owners)
        # The cap counts the new key, so some candidate is always under it.
        cap = math.ceil(self._load_factor * (len(table.owner) + 1) / n)
        start = ring.owner_index(key)
        for step in range(n):
            agent_id = owners[(start + step) % n]
            if counts.get(agent_id, 0) < cap:
                return agent_id
        return owners[start]  # unreachable: the candidates cannot all be at the cap

    def assignments(self, rule: str) -> dict[str, str]:
        """A copy of the rule's remembered key → agent assignments (for tests and debugging)."""
        table = self._rules.get(rule)
        return dict(table.owner) if table is not None else {}

    def forget(self, rule: str) -> None:
        """Drop the rule's assignments and keyless rotation."""
        self._rules.pop(rule, None)
        self._keyless.forget(rule)
