"""Behaviour 10: no leaks. A thousand runs of every kind leave the open file descriptors and
the process table as they were, and concurrent runs never mix their output."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

import procio

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_stray_reports")]

RUNS = 1000
#: More than a pipe plus a user-space write buffer hold, so early exits break the pipe.
UNCONSUMED = b"u" * (512 * 1024)


def open_fds() -> set[int]:
    """The file descriptors open in this process right now."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


def describe_fds(fds: set[int]) -> dict[int, str]:
    """What each descriptor points at, to make a leak readable in the failure message."""
    targets = {}
    for fd in sorted(fds):
        try:
            targets[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            targets[fd] = "?"
    return targets


def our_children() -> list[int]:
    """Pids whose parent is this process, zombies included: none may outlive a run."""
    me = str(os.getpid())
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == me:
            children.append(int(entry.name))
    return children


async def one_run(index: int) -> procio.Result:
    """One run of a mix: mostly plain ones, some early exits on big input, some timeouts."""
    if index % 50 == 0:
        result = await procio.run(["sleep", "10"], timeout=0.005, kill_grace=0.5)
        assert result.timed_out
    elif index % 10 == 1:
        result = await procio.run(["head", "-c", "1"], input=UNCONSUMED)
        assert result.stdin_unconsumed
        assert result.stdout == b"u"
    elif index % 10 == 2:
        with pytest.raises(procio.CommandFailed):
            await procio.run(["sh", "-c", "exit 3"], input=UNCONSUMED, check=True)
        return await procio.run(["true"])
    elif index % 10 == 3:
        payload = b"%d" % index
        result = await procio.run(["cat"], input=payload)
        assert result.stdout == payload
    else:
        result = await procio.run(["true"])
        assert result.ok
    return result


async def test_a_thousand_runs_leave_no_descriptor_or_process_behind() -> None:
    """Behaviour 10: fds and children are unchanged after 1,000 mixed runs on one loop."""
    for index in range(4):  # warm up: the event loop's own lazily opened descriptors
        await one_run(index)
    before = open_fds()
    for index in range(RUNS):
        await one_run(index)
    after = open_fds()
    assert after == before, {
        "leaked": describe_fds(after - before),
        "closed": sorted(before - after),
    }
    assert our_children() == []


async def test_spawn_failures_leave_no_descriptor_behind(tmp_path: Path) -> None:
    """Runs that fail to start (missing program or cwd) do not leak either."""
    await procio.run(["true"])
    before = open_fds()
    for index in range(200):
        with pytest.raises(procio.SpawnError):
            if index % 2:
                await procio.run([str(tmp_path / "missing")], input=b"data")
            else:
                await procio.run(["true"], cwd=tmp_path / "missing")
    assert open_fds() == before


async def test_runs_cancelled_at_any_point_leave_no_descriptor_or_process_behind() -> None:
    """Cancelled before the spawn, during it, or while feeding: nothing is left open or alive.

    Delays from zero (cancelled at the first checkpoint, before the child exists) up to a few
    milliseconds (spawning, then feeding stdin) cover every stage a caller can cancel in.
    """
    await procio.run(["cat"], input=b"warm-up")
    before = open_fds()
    delays = [0.0] * 10 + [0.0005 * step for step in range(1, 40)]
    for delay in delays:
        with anyio.move_on_after(delay):
            await procio.run(["cat"], input=UNCONSUMED)
    after = open_fds()
    assert after == before, {
        "leaked": describe_fds(after - before),
        "closed": sorted(before - after),
    }
    assert our_children() == []


async def test_fifty_concurrent_runs_each_get_their_own_output() -> None:
    """Behaviour 10: 50 runs at once, each fed its own payload, each gets exactly its own."""
    script = 'printf "%s:" "$1"; cat; printf "%s" "$1" >&2'
    payloads = {n: os.urandom(1024 * (n + 1)) for n in range(50)}
    results: dict[int, procio.Result] = {}

    async def one(n: int) -> None:
        results[n] = await procio.run(["sh", "-c", script, "sh", f"run-{n}"], input=payloads[n])

    before = open_fds()
    async with anyio.create_task_group() as tasks:
        for n in payloads:
            tasks.start_soon(one, n)
    assert sorted(results) == list(range(50))
    for n, result in results.items():
        assert result.ok
        assert result.stdout == b"run-%d:" % n + payloads[n]
        assert result.stderr == b"run-%d" % n
        assert not result.stdin_unconsumed
    assert len({result.pid for result in results.values()}) == 50
    assert open_fds() == before
    assert our_children() == []
