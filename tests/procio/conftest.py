"""Shared fixtures for the procio tests: both anyio backends, and probes for real processes."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

BACKENDS = ("asyncio", "trio")
#: Every way a failed write to the child's stdin can surface, on either backend.
PIPE_ERRORS = (BrokenPipeError, ConnectionResetError, anyio.BrokenResourceError, OSError)


@pytest.fixture(params=[pytest.param(name, id=name) for name in BACKENDS])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test once under asyncio and once under trio."""
    return str(request.param)


class ProcessProbe:
    """Looks at real processes through ``/proc`` and ``kill(pid, 0)``; never mocks anything."""

    @staticmethod
    def state(pid: int) -> str | None:
        """The process state letter from ``/proc/PID/stat`` (``'Z'`` for a zombie), or None."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return None
        # The command name is in parentheses and may hold spaces: split after the last ')'.
        return stat.rsplit(")", 1)[1].split()[0]

    @staticmethod
    def parent(pid: int) -> int | None:
        """The parent pid from ``/proc/PID/stat``, or None when the process is gone."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return None
        return int(stat.rsplit(")", 1)[1].split()[1])

    def is_dead(self, pid: int) -> bool:
        """True when ``pid`` no longer runs: gone entirely, or a zombie awaiting its reaper."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # pid reused by someone else's process: ours is gone
            return True
        return self.state(pid) in (None, "Z", "X")

    def assert_dead_soon(self, pid: int, within: float = 1.0) -> None:
        """Assert ``pid`` is dead within ``within`` seconds.

        A killed grandchild is reparented to init and reaped asynchronously, and a SIGKILL is
        delivered asynchronously too, so a short poll is allowed; a zombie counts as dead.
        """
        deadline = time.monotonic() + within
        while not self.is_dead(pid):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"process {pid} is still alive (state {self.state(pid)!r}) after {within}s"
                )
            time.sleep(0.01)

    def assert_reaped(self, pid: int) -> None:
        """Assert our direct child ``pid`` was waited for: it is not left as our zombie.

        No polling: the run that started it must have reaped it before returning.
        """
        if self.state(pid) is None:
            return
        assert not (self.state(pid) == "Z" and self.parent(pid) == os.getpid()), (
            f"child {pid} was left a zombie of this process"
        )
        # Still present and not our zombie: only acceptable if the pid now belongs to some
        # unrelated process (reuse), never to a live child of ours.
        assert self.parent(pid) != os.getpid(), f"child {pid} is still running"

    @staticmethod
    def live_group_members(pgid: int) -> list[int]:
        """Pids of every process in group ``pgid`` that is not yet a zombie."""
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            state, group = fields[0], int(fields[3])
            if group == pgid and state not in ("Z", "X"):
                members.append(int(entry.name))
        return members

    def assert_group_dead_soon(self, pgid: int, within: float = 1.0) -> None:
        """Assert no live process is left in group ``pgid`` within ``within`` seconds."""
        deadline = time.monotonic() + within
        while members := self.live_group_members(pgid):
            if time.monotonic() > deadline:
                raise AssertionError(f"group {pgid} still has live members {members}")
            time.sleep(0.01)

    @staticmethod
    def read_pids(path: Path, within: float = 2.0) -> list[int]:
        """The pids a child shell wrote to ``path``, one a line (waits briefly for the file)."""
        deadline = time.monotonic() + within
        while True:
            text = path.read_text() if path.exists() else ""
            if text.endswith("\n"):
                return [int(line) for line in text.split()]
            if time.monotonic() > deadline:
                raise AssertionError(f"no pid was written to {path}: {text!r}")
            time.sleep(0.01)


@pytest.fixture
def probe() -> ProcessProbe:
    """A :class:`ProcessProbe` to check that children are reaped and descendants are dead."""
    return ProcessProbe()


def pipe_errors_in(exc: BaseException) -> list[BaseException]:
    """Pipe errors anywhere in ``exc``'s causes, contexts and exception groups."""
    seen: set[int] = set()
    pending = [exc]
    found = []
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, PIPE_ERRORS):
            found.append(current)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
    return found


@pytest.fixture
def find_pipe_errors() -> Callable[[BaseException], list[BaseException]]:
    """A function listing the pipe errors hidden anywhere in an exception's chain."""
    return pipe_errors_in


@pytest.fixture
async def no_stray_reports(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> AsyncIterator[None]:
    """Fail the test if anything reports a stray pipe error once the runs are over.

    ``filterwarnings = error`` (pyproject) already turns warnings and unraisable exceptions
    into errors. This runs the garbage collector *inside the still-running event loop*, so a
    future or task whose exception was never retrieved reports now (the anyio test runner
    re-raises what reaches asyncio's exception handler), then checks the asyncio logger
    ("exception was never retrieved", "Fatal write error on pipe transport") and the
    process's own stderr file descriptor.
    """
    caplog.set_level(logging.DEBUG, logger="asyncio")
    yield
    gc.collect()
    await anyio.sleep(0.01)  # let whatever the finalizers scheduled run and report
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    loud = [r for r in records if r.name.startswith("asyncio") and r.levelno >= logging.INFO]
    assert not loud, [r.getMessage() for r in loud]
    assert not any("never retrieved" in r.getMessage() for r in records)
    _, err = capfd.readouterr()
    assert "never retrieved" not in err
    assert "Traceback" not in err
    assert err == "", err
