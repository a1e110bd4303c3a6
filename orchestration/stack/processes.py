"""A child process the embedded stack owns: its own session, a log file, a bounded stop.

Each child runs in a new session (so one signal reaches everything it spawned) and, on
Linux, asks the kernel to send it SIGTERM when its parent dies: if ``orchestration up`` is
killed with SIGKILL, no Temporal server or broker is left behind holding the ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["ManagedProcess"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_TAIL_BYTES = 64 * 1024


def _load_prctl() -> Callable[..., int] | None:
    # Resolved in the parent: looking a symbol up after fork() in a threaded process can
    # deadlock on the loader's lock, calling an already-resolved function cannot.
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_prctl = _load_prctl()


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGTERM when its parent dies."""
    prctl = _prctl
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        # The parent may have died between fork() and prctl(): then nobody will signal us.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class ManagedProcess:
    """One child process, its log file, and how to stop it.

    Create it with :meth:`spawn`; stdout and stderr go to ``log_file`` (appended, with a
    header line per start, so the history of restarts stays readable).
    """

    def __init__(self, name: str, process: asyncio.subprocess.Process, log_file: Path) -> None:
        self._name = name
        self._process = process
        self._log_file = log_file

    @classmethod
    async def spawn(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        log_file: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        """Start ``argv`` as ``name``, writing its output to ``log_file``.

        Args:
            name: a short name for messages, e.g. ``"Temporal"``.
            argv: the program and its arguments.
            log_file: where stdout and stderr go; its directory is created.
            env: the child's whole environment (default: this process's).
            cwd: the child's working directory (default: this process's).
        """
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as sink:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            sink.write(f"--- {stamp} starting: {' '.join(argv)}\n".encode())
            sink.flush()
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        log.debug("%s started as pid %d (log: %s)", name, process.pid, log_file)
        return cls(name, process, log_file)

    @property
    def name(self) -> str:
        return self._name

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def log_file(self) -> Path:
        return self._log_file

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited (negative: killed by that signal)."""
        return self._process.returncode

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    async def wait(self) -> int:
        """Wait until the process exits and return its exit code."""
        return await self._process.wait()

    async def stop(self, timeout_s: float = 10.0) -> int:
        """Stop the process and everything in its process group, and reap it.

        Sends SIGTERM to the group, waits up to ``timeout_s`` seconds, then sends SIGKILL.

        Returns:
            The exit code.
        """
        if self.alive:
            log.debug("stopping %s (pid %d)", self._name, self.pid)
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), timeout_s)
            except TimeoutError:
                log.warning("%s did not stop within %.0f s: killing it", self._name, timeout_s)
                self._signal_group(signal.SIGKILL)
                await self._process.wait()
        # Anything the child spawned into its session and left behind goes too.
        self._signal_group(signal.SIGKILL)
        return await self._process.wait()

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log file ('' when there is none)."""
        try:
            with self._log_file.open("rb") as source:
                source.seek(0, os.SEEK_END)
                source.seek(max(0, source.tell() - _TAIL_BYTES))
                text = source.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: signal.Signals) -> None:
        # start_new_session made the child a group leader: its pgid is its pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.returncode}"
        return f"<ManagedProcess {self._name} pid={self.pid} {state}>"
