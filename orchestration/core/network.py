"""Addresses: ``host:port`` parsing, loopback checks and the URLs of local servers."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["ANY_ADDRESS", "is_loopback", "local_url", "split_host_port", "split_urls", "url_host"]


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


def split_urls(given: str | Sequence[str]) -> list[str]:
    """The http(s) URLs of ``given`` (one, a comma-separated list, or a sequence), without
    blanks and trailing slashes.

    Raises:
        ValueError: none, one that is not http(s), or one given twice.
    """
    items = given.split(",") if isinstance(given, str) else list(given)
    urls = [url.strip().rstrip("/") for url in items if url.strip()]
    if not urls:
        raise ValueError(f"names no URL (got {given!r})")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {url!r})")
    if len(set(urls)) != len(urls):
        raise ValueError(f"names a URL twice ({','.join(urls)})")
    return urls
