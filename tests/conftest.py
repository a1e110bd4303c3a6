"""Shared helpers and fixtures of these tests (the servers come from our pytest plugin)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from activities.ledger import ActionLedger
from examples.csrd.workspace import Workspace, use_workspace
from orchestration.testing.database import temporary_postgres_database
from registry.local_registry import LocalAgentRegistry
from tests.reliability.figures import CACHE_KEY, KEY, Figures, figures, summary_lines

# The multi-host bed (tests/hosts/) runs under `make hosts`, not in the default suite: each of
# its tests starts a small cluster of processes across network namespaces.
collect_ignore_glob = [] if os.environ.get("ORCH_TEST_HOSTS") == "1" else ["hosts/*"]


@pytest.fixture
def unique() -> str:
    """A fresh suffix for task queues and workflow ids, so tests never share state."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def reliability_figures(pytestconfig: pytest.Config) -> Figures:
    """Where fault and hostile-input tests record what they ran, injected and lost."""
    return figures(pytestconfig)


@pytest.fixture
async def csrd_workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    """The files and idempotency ledger of the CSRD example agents run in this process, closed
    after the test (the agents' own ``workspace()`` would stay open on a loop that is gone)."""
    ledger = await ActionLedger.open(f"sqlite+aiosqlite:///{tmp_path}/ledger.db")
    workspace = Workspace(tmp_path / "csrd", ledger)
    use_workspace(workspace)
    yield workspace
    use_workspace(None)
    await ledger.close()


@pytest_asyncio.fixture(loop_scope="session")
async def sqlite_registry(tmp_path: Path) -> AsyncIterator[LocalAgentRegistry]:
    """An agent registry on a SQLite file of its own, closed after the test."""
    registry = LocalAgentRegistry(f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}")
    await registry.initialize()
    try:
        yield registry
    finally:
        await registry.close()


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def empty_database_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend, URL): a SQLite file URL, or the Postgres server to create a database on."""
    if request.param == "sqlite":
        return "sqlite", f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    server: str = request.getfixturevalue("postgres_server_url")
    return "postgres", server


@pytest_asyncio.fixture
async def empty_database_url(empty_database_target: tuple[str, str]) -> AsyncIterator[str]:
    """URL of a database no migration has touched, private to one test."""
    backend, url = empty_database_target
    if backend == "sqlite":
        yield url
        return
    async with temporary_postgres_database(url) as database_url:
        yield database_url


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    found = config.stash.get(KEY, None)
    if found is None or not found.rows:
        return
    terminalreporter.section("reliability figures")
    for line in summary_lines(found.rows):
        terminalreporter.write_line(line)
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    if cache is not None:
        cache.set(CACHE_KEY, found.as_json())
