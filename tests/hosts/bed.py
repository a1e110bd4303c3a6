"""Hosts on one machine: Linux network namespaces on a bridge of their own, links that can be cut.

Each host is a network namespace with a veth pair: ``eth0`` inside, at ``10.<n>.0.<k>/24``,
and its peer attached to a bridge in the root namespace that this bed creates (and removes).
The bridge holds ``10.<n>.0.254``: the test process (the "observer") reaches hosts through
it, while the processes under test run inside their host's namespace and reach each other by
their hosts' addresses only; no host can reach the machine's own services (nothing routes
there). ``<n>`` is picked among 10.200-10.249 so that two beds on one machine do not collide.

Cutting a host's link sets its veth peer down: packets to and from the host vanish (no reset,
as when a cable is pulled or a switch port dies); restoring it sets the peer up again.

Needs root and ``ip`` (iproute2). :func:`unavailable` says why a bed cannot be made here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Bed", "Host", "unavailable"]

OBSERVER = 254


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def unavailable() -> str | None:
    """Why no bed can be made on this machine, or None."""
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` command"
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns)"
    probe = f"orchprobe{secrets.token_hex(3)}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    """One host: its namespace and its address."""

    name: str
    namespace: str
    address: str
    peer: str  # the veth end on the bridge, in the root namespace

    def command(self, argv: Iterable[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def url(self, port: int) -> str:
        return f"http://{self.address}:{port}"


@dataclass
class Bed:
    """``Bed.create(["core", "reg-a", ...])``; :meth:`destroy` removes everything it made."""

    tag: str
    subnet: str  # "10.<n>.0"
    bridge: str
    hosts: dict[str, Host] = field(default_factory=dict)

    @classmethod
    def create(cls, names: Iterable[str]) -> Bed:
        tag = secrets.token_hex(2)
        taken = _ip("-4", "-o", "addr").stdout
        second = next(
            (n for n in range(200, 250) if f" 10.{n}.0." not in taken),
            None,
        )
        if second is None:
            raise RuntimeError("every 10.200-249.0.0/24 subnet is in use on this machine")
        bed = cls(tag=tag, subnet=f"10.{second}.0", bridge=f"ob{tag}")
        try:
            _ip("link", "add", bed.bridge, "type", "bridge")
            _ip("addr", "add", f"{bed.observer}/24", "dev", bed.bridge)
            _ip("link", "set", bed.bridge, "up")
            for number, name in enumerate(names, start=1):
                bed._add_host(name, number)
        except BaseException:
            bed.destroy()
            raise
        return bed

    @property
    def observer(self) -> str:
        """The test process's address on the bed (the bridge's)."""
        return f"{self.subnet}.{OBSERVER}"

    def _add_host(self, name: str, number: int) -> None:
        namespace = f"orch{self.tag}-{name}"
        peer, inside = f"o{self.tag}p{number}", f"o{self.tag}i{number}"
        address = f"{self.subnet}.{number}"
        _ip("netns", "add", namespace)
        self.hosts[name] = Host(name, namespace, address, peer)
        _ip("link", "add", peer, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", peer, "master", self.bridge)
        _ip("link", "set", peer, "up")
        run = ["netns", "exec", namespace, "ip"]
        _ip(*run, "link", "set", "lo", "up")
        _ip(*run, "link", "set", inside, "name", "eth0")
        _ip(*run, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip(*run, "link", "set", "eth0", "up")

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def cut(self, name: str) -> None:
        """Take ``name``'s link down: its packets vanish both ways."""
        _ip("link", "set", self.hosts[name].peer, "down")

    def restore(self, name: str) -> None:
        """Bring ``name``'s link back."""
        _ip("link", "set", self.hosts[name].peer, "up")

    def destroy(self) -> None:
        """Remove every namespace (their veth ends go with them) and the bridge."""
        for host in self.hosts.values():
            _ip("netns", "del", host.namespace, check=False)
        _ip("link", "del", self.bridge, check=False)
