"""Shared fixtures for the procio tests: both anyio backends, and probes for real processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

BACKENDS = ("asyncio", "trio")


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
