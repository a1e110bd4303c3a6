"""Addresses: ``host:port`` parsing, loopback checks and the URLs of local servers."""

from __future__ import annotations

import ipaddress

__all__ = ["ANY_ADDRESS", "is_loopback", "local_url", "split_host_port", "url_host"]


def split_host_port(address: str, *, default_port: int) -> tuple[str, int]:
    """Split ``host:port`` (or ``[v6]:port``) into its parts."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.lstrip(":")
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    if not host:
        raise ValueError(f"address {address!r} has no host")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address {address!r} has an invalid port {port!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True when ``host`` names this machine (so the embedded stack may start a server for it)."""
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "[::]"})
"""Bind addresses meaning "every interface": a client on this machine connects to loopback."""


def url_host(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def local_url(host: str, port: int, path: str = "") -> str:
    """``http://host:port/path`` for a client on this machine of a server bound to ``host``."""
    return f"http://{url_host('127.0.0.1' if host in ANY_ADDRESS else host)}:{port}{path}"
