"""Behaviours 5, 6 and 7, and the output cap: every way out ends the child's whole group.

Each child shell starts a background ``sleep`` (a descendant in its process group) and
writes the pids to a file, so the tests can check with ``kill(pid, 0)`` and ``/proc`` that
the child was reaped and that no descendant outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

import procio

if TYPE_CHECKING:
    from conftest import ProcessProbe

pytestmark = pytest.mark.anyio

#: Starts a descendant, records "descendant pid" then "shell pid", then waits on it.
SPAWN_AND_WAIT = 'sleep 300 & echo $! > "$1"; echo $$ >> "$1"; wait'
#: The same, with SIGTERM ignored by the shell and (inherited) by the descendant.
IGNORE_TERM_SPAWN_AND_WAIT = "trap '' TERM; " + SPAWN_AND_WAIT
#: Without the behaviour under test a run could last as long as its ``sleep 300``: fail first.
HANG_LIMIT = 15.0


async def bounded_run(argv: list[str], **options: Any) -> procio.Result:
    """``procio.run``, failing the test with TimeoutError rather than hanging it."""
    with anyio.fail_after(HANG_LIMIT):
        return await procio.run(argv, **options)


def pids_file(tmp_path: Path) -> Path:
    """Where a child shell records its pids."""
    return tmp_path / "pids"


async def test_timeout_ends_the_whole_group_with_sigterm(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Behaviour 5: on timeout the child and its descendant get SIGTERM; both are gone."""
    pids = pids_file(tmp_path)
    result = await bounded_run(["sh", "-c", SPAWN_AND_WAIT, "sh", str(pids)], timeout=0.3)
    descendant, shell = probe.read_pids(pids)
    assert shell == result.pid
    assert result.timed_out
    assert not result.ok
    assert result.returncode == -signal.SIGTERM
    assert result.signal == signal.SIGTERM
    assert 0.3 <= result.duration < 2.0
    probe.assert_reaped(result.pid)
    probe.assert_dead_soon(descendant)
    probe.assert_group_dead_soon(result.pid)


async def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Behaviour 5: a group that ignores SIGTERM is SIGKILLed once kill_grace has passed."""
    pids = pids_file(tmp_path)
    result = await bounded_run(
        ["sh", "-c", IGNORE_TERM_SPAWN_AND_WAIT, "sh", str(pids)], timeout=0.2, kill_grace=0.3
    )
    descendant, _ = probe.read_pids(pids)
    assert result.timed_out
    assert result.returncode == -signal.SIGKILL
    assert result.signal == signal.SIGKILL
    # The timeout, then kill_grace spent waiting on the ignored SIGTERM; well short of the
    # 2 s default grace, so the kill_grace argument is honoured.
    assert 0.45 <= result.duration < 1.8
    probe.assert_reaped(result.pid)
    probe.assert_dead_soon(descendant)
    probe.assert_group_dead_soon(result.pid)


async def test_timeout_kills_a_descendant_that_ignores_sigterm(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Behaviour 5: the child dies on SIGTERM but its TERM-proof descendant is SIGKILLed."""
    pids = pids_file(tmp_path)
    script = '(trap \'\' TERM; exec sleep 300) & echo $! > "$1"; echo $$ >> "$1"; wait'
    result = await bounded_run(["sh", "-c", script, "sh", str(pids)], timeout=0.3, kill_grace=5)
    descendant, _ = probe.read_pids(pids)
    assert result.timed_out
    assert result.returncode == -signal.SIGTERM
    assert result.duration < 2.0
    probe.assert_reaped(result.pid)
    probe.assert_dead_soon(descendant)
    probe.assert_group_dead_soon(result.pid)


async def test_timeout_with_check_raises_command_timeout(tmp_path: Path) -> None:
    """check=True turns a timeout into CommandTimeout, a CommandFailed that says so."""
    pids = pids_file(tmp_path)
    with pytest.raises(procio.CommandTimeout) as caught:
        await bounded_run(["sh", "-c", SPAWN_AND_WAIT, "sh", str(pids)], timeout=0.2, check=True)
    assert isinstance(caught.value, procio.CommandFailed)
    assert caught.value.result.timed_out
    assert caught.value.result.returncode == -signal.SIGTERM
    assert "timed out" in str(caught.value)


async def test_descendant_holding_the_pipes_does_not_hang_run(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Behaviour 6: ``sleep 300 & echo hi; exit 7`` returns promptly with 7 and ``hi``."""
    pids = pids_file(tmp_path)
    script = 'sleep 300 & echo $! > "$1"; echo hi; exit 7'
    started = time.monotonic()
    result = await bounded_run(["sh", "-c", script, "sh", str(pids)])
    elapsed = time.monotonic() - started
    (descendant,) = probe.read_pids(pids)
    assert result.returncode == 7
    assert result.stdout == b"hi\n"
    assert not result.timed_out
    assert elapsed < 1.5
    probe.assert_reaped(result.pid)
    probe.assert_dead_soon(descendant)
    probe.assert_group_dead_soon(result.pid)


async def test_descendant_from_the_issue_verbatim_is_ended(probe: ProcessProbe) -> None:
    """Behaviour 6 with the exact command of the issue: no member of the group survives."""
    started = time.monotonic()
    result = await bounded_run(["sh", "-c", "sleep 300 & echo hi; exit 7"])
    assert time.monotonic() - started < 1.5
    assert (result.returncode, result.stdout) == (7, b"hi\n")
    probe.assert_group_dead_soon(result.pid)


async def test_descendant_ignoring_sigterm_and_holding_the_pipes_is_killed(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Behaviour 6: a TERM-proof descendant on the pipes is killed; run still returns fast."""
    pids = pids_file(tmp_path)
    script = "(trap '' TERM; exec sleep 300) & echo $! > \"$1\"; echo hi; exit 7"
    started = time.monotonic()
    result = await bounded_run(["sh", "-c", script, "sh", str(pids)])
    assert time.monotonic() - started < 1.5
    (descendant,) = probe.read_pids(pids)
    assert (result.returncode, result.stdout) == (7, b"hi\n")
    probe.assert_dead_soon(descendant)


async def test_pipe_grace_keeps_output_of_a_quick_descendant() -> None:
    """Descendants may keep writing for ``pipe_grace`` after the child exits; that is kept."""
    result = await bounded_run(
        ["sh", "-c", "(sleep 0.2; echo late) & echo hi; exit 7"], pipe_grace=3.0
    )
    assert result.returncode == 7
    assert result.stdout == b"hi\nlate\n"


async def test_pipe_grace_bounds_the_wait_for_a_slow_descendant(probe: ProcessProbe) -> None:
    """Past ``pipe_grace`` a descendant's later output is not waited for."""
    started = time.monotonic()
    result = await bounded_run(
        ["sh", "-c", "(sleep 5; echo late) & echo hi; exit 7"], pipe_grace=0.1
    )
    assert time.monotonic() - started < 1.5
    assert (result.returncode, result.stdout) == (7, b"hi\n")
    probe.assert_group_dead_soon(result.pid)


async def test_descendant_that_left_the_group_does_not_hang_run(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """A descendant in its own session keeps the pipes open: run still returns promptly."""
    pids = pids_file(tmp_path)
    script = 'setsid sleep 300 & echo $! > "$1"; echo hi; exit 7'
    started = time.monotonic()
    try:
        result = await bounded_run(["sh", "-c", script, "sh", str(pids)])
        assert time.monotonic() - started < 2.0
        assert (result.returncode, result.stdout) == (7, b"hi\n")
    finally:
        for pid in probe.read_pids(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_cancellation_kills_and_reaps_the_group_before_it_propagates(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Behaviour 7: when the caller's cancel scope ends, the child is already reaped."""
    pids = pids_file(tmp_path)
    reached_after_run = False
    with anyio.move_on_after(0.5) as scope:
        await procio.run(["sh", "-c", SPAWN_AND_WAIT, "sh", str(pids)])
        reached_after_run = True
    assert scope.cancelled_caught
    assert not reached_after_run
    descendant, shell = probe.read_pids(pids)
    # No polling for the direct child: it must have been reaped before the scope exited.
    probe.assert_reaped(shell)
    with pytest.raises(ProcessLookupError):
        os.kill(shell, 0)
    probe.assert_dead_soon(descendant)
    probe.assert_group_dead_soon(shell)


async def test_cancellation_escalates_to_sigkill_for_a_term_proof_group(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Behaviour 7: a group ignoring SIGTERM is SIGKILLed after kill_grace, then reaped."""
    pids = pids_file(tmp_path)
    started = time.monotonic()
    with anyio.move_on_after(0.3) as scope:
        await procio.run(["sh", "-c", IGNORE_TERM_SPAWN_AND_WAIT, "sh", str(pids)], kill_grace=0.3)
    elapsed = time.monotonic() - started
    assert scope.cancelled_caught
    assert 0.55 <= elapsed < 1.8
    descendant, shell = probe.read_pids(pids)
    probe.assert_reaped(shell)
    with pytest.raises(ProcessLookupError):
        os.kill(shell, 0)
    probe.assert_dead_soon(descendant)
    probe.assert_group_dead_soon(shell)


async def test_cancellation_from_another_task_while_feeding_input(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Behaviour 7: cancelled mid-write of 16 MiB to a child that reads nothing: all reaped."""
    pids = pids_file(tmp_path)
    started = anyio.Event()
    outcome: list[str] = []

    async def caller(scope_holder: list[anyio.CancelScope]) -> None:
        with anyio.CancelScope() as scope:
            scope_holder.append(scope)
            started.set()
            await procio.run(
                ["sh", "-c", SPAWN_AND_WAIT, "sh", str(pids)], input=b"x" * (16 * 1024 * 1024)
            )
            outcome.append("returned")
        outcome.append("cancelled" if scope.cancelled_caught else "not cancelled")

    holder: list[anyio.CancelScope] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(caller, holder)
        await started.wait()
        await anyio.sleep(0.4)
        holder[0].cancel()
    assert outcome == ["cancelled"]
    descendant, shell = probe.read_pids(pids)
    probe.assert_reaped(shell)
    with pytest.raises(ProcessLookupError):
        os.kill(shell, 0)
    probe.assert_dead_soon(descendant)


async def test_output_limit_keeps_exactly_max_output_bytes_and_kills_the_group(
    tmp_path: Path, probe: ProcessProbe
) -> None:
    """Past ``max_output`` the group is killed and exactly ``max_output`` bytes are kept."""
    pids = pids_file(tmp_path)
    script = 'sleep 300 & echo $! > "$1"; exec yes abcdefg'
    result = await bounded_run(["sh", "-c", script, "sh", str(pids)], max_output=100_003)
    (descendant,) = probe.read_pids(pids)
    assert result.output_limit_exceeded
    assert not result.ok
    assert not result.timed_out
    assert len(result.stdout) == 100_003
    assert result.stdout == (b"abcdefg\n" * 12_501)[:100_003]
    assert result.returncode == -signal.SIGTERM
    probe.assert_reaped(result.pid)
    probe.assert_dead_soon(descendant)
    probe.assert_group_dead_soon(result.pid)


async def test_output_limit_applies_to_stderr_and_escalates_to_sigkill() -> None:
    """The cap holds per stream (stderr too), and a TERM-proof writer is SIGKILLed."""
    result = await bounded_run(
        ["sh", "-c", "trap '' TERM; exec yes 0123456789 >&2"], max_output=4096, kill_grace=0.3
    )
    assert result.output_limit_exceeded
    assert result.stdout == b""
    assert result.stderr == (b"0123456789\n" * 400)[:4096]
    assert result.returncode == -signal.SIGKILL
    assert result.duration < 1.8


async def test_output_at_the_limit_is_not_over_it() -> None:
    """Exactly ``max_output`` bytes is within the limit; one more byte is over it."""
    at_limit = await bounded_run(["head", "-c", "5000", "/dev/zero"], max_output=5000)
    assert at_limit.ok
    assert not at_limit.output_limit_exceeded
    assert at_limit.stdout == b"\0" * 5000
    over = await bounded_run(["head", "-c", "5001", "/dev/zero"], max_output=5000)
    assert over.output_limit_exceeded
    assert not over.ok
    assert over.stdout == b"\0" * 5000


async def test_output_limit_with_check_raises_command_failed() -> None:
    """check=True on an output overrun raises CommandFailed (not CommandTimeout) saying why."""
    with pytest.raises(procio.CommandFailed) as caught:
        await bounded_run(["yes"], max_output=1000, check=True)
    assert not isinstance(caught.value, procio.CommandTimeout)
    assert caught.value.result.output_limit_exceeded
    assert len(caught.value.result.stdout) == 1000
    assert "output limit" in str(caught.value)
