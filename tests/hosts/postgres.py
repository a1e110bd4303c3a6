"""A private Postgres cluster on a bed's host, from the Debian server binaries (not the
machine's shared server): ``initdb`` into a fresh directory, ``postgres`` listening on the
host's address only, trusting the bed's subnet."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from orchestration.stack.processes import ManagedProcess
from tests.hosts.bed import Bed, Host

PORT = 5432
READY_S = 60


def binaries() -> Path | None:
    """The newest Debian Postgres server's bin directory, if there is one."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def _as_postgres(argv: list[str]) -> list[str]:
    """``argv`` as the ``postgres`` user (the server refuses to run as root)."""
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


@contextlib.asynccontextmanager
async def private_postgres(bed: Bed, host: Host, log_dir: Path) -> AsyncIterator[str]:
    """Postgres on ``host``; yields its ``postgresql+asyncpg://`` URL (by the host's address)."""
    bin_dir = binaries()
    assert bin_dir is not None, "no Debian Postgres server binaries under /usr/lib/postgresql"
    user = pwd.getpwnam("postgres")
    # /tmp, not pytest's tmp_path: the postgres user cannot enter root's private directories.
    data = Path(tempfile.mkdtemp(prefix="orch-hosts-pg-"))
    shutil.chown(data, user.pw_uid, user.pw_gid)
    try:
        initdb = await asyncio.create_subprocess_exec(
            *_as_postgres([str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "postgres",
                           "--auth=trust", "--no-sync"]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(initdb.communicate(), 120)
        assert initdb.returncode == 0, f"initdb failed:\n{out.decode()}"
        with (data / "db" / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {bed.subnet}.0/24 trust\n")
        server = await ManagedProcess.spawn(
            "postgres",
            host.command(
                _as_postgres([
                    str(bin_dir / "postgres"), "-D", str(data / "db"), "-p", str(PORT),
                    "-c", f"listen_addresses={host.address}",
                    "-c", f"unix_socket_directories={data}", "-c", "fsync=off",
                    "-c", "max_connections=200",
                ])
            ),
            log_file=log_dir / "postgres.log",
        )  # fmt: skip
        try:
            await _ready(bin_dir, host, server)
            yield f"postgresql+asyncpg://postgres@{host.address}:{PORT}/postgres"
        finally:
            await server.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


async def _ready(bin_dir: Path, host: Host, server: ManagedProcess) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_S
    probe = host.command([str(bin_dir / "pg_isready"), "-q", "-h", host.address, "-p", str(PORT)])
    while True:
        done = await asyncio.create_subprocess_exec(*probe)
        if await done.wait() == 0:
            return
        assert server.alive, server.tail()
        assert loop.time() < deadline, f"postgres not ready within {READY_S} s:\n{server.tail()}"
        await asyncio.sleep(0.2)
