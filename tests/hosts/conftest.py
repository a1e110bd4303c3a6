"""The multi-host bed's tests (``make hosts``): skipped, with the reason, where this machine
cannot create network namespaces or has no Postgres server binaries; not part of ``make
test`` (they start a cluster of processes per test)."""

from __future__ import annotations

import pytest

from tests.hosts.bed import unavailable
from tests.hosts.postgres import binaries


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    why = unavailable() or (None if binaries() else "needs Debian's postgresql server binaries")
    if why is None:
        return
    for item in items:
        if "tests/hosts/" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=f"multi-host bed: {why}"))
