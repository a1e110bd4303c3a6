"""Agents' traffic against several registry services, from the bed's ``client`` host.

Usage: ``python tests/hosts/registry_driver.py URLS TOKEN AGENTS ROUNDS``: ``CLIENTS`` clients
of ``URLS`` (comma-separated), the way agents' processes each hold one, register ``AGENTS``
agents (one at a time, round-robin over the clients), then send ``ROUNDS`` rounds of one
heartbeat per agent, each round followed by a discovery. A call that fails retriably is
retried until it is acknowledged (what an agent does), so an acknowledged call is one the
registry took. Prints ``progress N`` after each registration and heartbeat round, and at the
end one JSON line: what was acknowledged, the retries, where each client started and ended.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

from orchestration.core.exceptions import RegistryError
from registry.discovery import DiscoveryQuery
from registry.models import AgentDescriptor
from registry.remote_registry import RemoteAgentRegistry

CLIENTS = 8
DEADLINE_S = 120.0
CAPABILITY = "bed_calc"


async def acknowledged(call: Any, retries: Counter[str], what: str) -> Any:
    """``await call()`` until it succeeds (a retriable RegistryError is retried)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return await call()
        except RegistryError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            retries[what] += 1
            await asyncio.sleep(0.2)


async def main(urls: str, token: str, agents: int, rounds: int) -> None:
    clients = [RemoteAgentRegistry(urls, token=token, timeout_s=3.0) for _ in range(CLIENTS)]
    started = [c.base_url for c in clients]
    retries: Counter[str] = Counter()
    discovered: list[int] = []
    took: list[float] = []
    try:
        for n in range(agents):
            client = clients[n % CLIENTS]
            descriptor = AgentDescriptor(
                agent_id=f"bed-{n:04d}", agent_type="BedCalc", capabilities=[CAPABILITY]
            )
            begun = time.monotonic()
            await acknowledged(lambda c=client, d=descriptor: c.register(d), retries, "register")
            took.append(time.monotonic() - begun)
            print(f"progress {n + 1}", flush=True)
            await asyncio.sleep(0.01)  # an agent's pace, so that the cut lands mid-run
        query = DiscoveryQuery.build(capabilities=[CAPABILITY], max_results=agents)
        for done in range(rounds):
            for n in range(agents):
                client = clients[n % CLIENTS]
                begun = time.monotonic()
                await acknowledged(
                    lambda c=client, a=f"bed-{n:04d}": c.heartbeat(a, {"cpu_usage": 0.2}),
                    retries,
                    "heartbeat",
                )
                took.append(time.monotonic() - begun)
            found = await acknowledged(lambda: clients[0].discover(query), retries, "discover")
            discovered.append(len(found))
            print(f"progress {agents + (done + 1) * agents}", flush=True)
    finally:
        ended = [c.base_url for c in clients]
        for client in clients:
            await client.close()
    took.sort()
    report = {
        "registered": agents,
        "heartbeats": agents * rounds,
        "discovered": discovered,
        "retries": dict(retries),
        "started": dict(Counter(started)),
        "ended": dict(Counter(ended)),
        "slowest_call_s": round(took[-1], 3) if took else None,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    urls_arg, token_arg, agents_arg, rounds_arg = sys.argv[1:5]
    asyncio.run(main(urls_arg, token_arg, int(agents_arg), int(rounds_arg)))
