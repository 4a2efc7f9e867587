"""Behaviours 1 and 3: stdin is settled before the exit is reported, and no pipe error masks it.

Most tests offer far more input than a pipe holds to a child that stops reading, so the
parent's write fails with EPIPE / BrokenPipeError / ConnectionResetError / BrokenResourceError
while the child's real exit status and stderr are already known.
"""

from __future__ import annotations

import fcntl
import gc
import os
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

import procio

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_stray_reports")]

MIB = 1024 * 1024


def pipe_capacity() -> int:
    """How many bytes the kernel buffers in a fresh pipe (64 KiB on most Linux systems)."""
    read_end, write_end = os.pipe()
    try:
        return fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_child_that_reads_nothing_exits_zero_and_the_pipe_error_is_swallowed() -> None:
    """A child exiting 0 without reading 16 MiB: status 0, no exception, only the flag set."""
    for _ in range(5):
        result = await procio.run(["true"], input=b"\0" * (16 * MIB))
        assert result.returncode == 0
        assert result.ok
        assert result.stdin_unconsumed
        assert result.stdout == b""
        assert result.stderr == b""


async def test_real_status_and_stderr_win_over_the_pipe_error() -> None:
    """A child that complains and exits 5 without reading: 5 and its stderr, not "Broken pipe"."""
    argv = ["sh", "-c", "echo 'fatal: it is locked' >&2; exit 5"]
    for size in (256 * 1024, MIB, 16 * MIB):
        result = await procio.run(argv, input=b"x" * size)
        assert result.returncode == 5
        assert result.signal is None
        assert result.stderr == b"fatal: it is locked\n"
        assert result.stdin_unconsumed
        assert not result.timed_out
        assert not result.output_limit_exceeded


async def test_check_true_raises_the_childs_failure_with_no_pipe_error_in_its_chain(
    find_pipe_errors: Callable[[BaseException], list[BaseException]],
) -> None:
    """With check=True the error is CommandFailed for the real status, with no pipe error in it."""
    argv = ["sh", "-c", "echo 'fatal: it is locked' >&2; exit 5"]
    for _ in range(5):
        with pytest.raises(procio.CommandFailed) as caught:
            await procio.run(argv, input=b"x" * (8 * MIB), check=True)
        assert type(caught.value) is procio.CommandFailed
        assert caught.value.result.returncode == 5
        assert caught.value.result.stdin_unconsumed
        assert "fatal: it is locked" in str(caught.value)
        assert "exit status 5" in str(caught.value)
        assert find_pipe_errors(caught.value) == []


async def test_pipe_error_does_not_escape_later_from_a_background_task() -> None:
    """After run returns, nothing left behind raises or reports once the loop keeps running."""
    results = [await procio.run(["sh", "-c", "exit 3"], input=b"y" * (4 * MIB)) for _ in range(10)]
    # Give any stray task or callback every chance to fail now, while the loop still runs.
    for _ in range(20):
        await anyio.sleep(0.01)
    gc.collect()
    await anyio.sleep(0.05)
    assert [r.returncode for r in results] == [3] * 10
    assert all(r.stdin_unconsumed for r in results)


async def test_streamed_input_is_settled_before_run_returns() -> None:
    """An endless async input is closed (abandoned) before ``run`` returns, not after."""
    events: list[str] = []

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"z" * 65536
                await anyio.sleep(0)
        finally:
            events.append("input closed")

    result = await procio.run(["sh", "-c", "head -c 100 >/dev/null; exit 4"], input=endless())
    events.append("run returned")
    assert events == ["input closed", "run returned"]
    assert result.returncode == 4
    assert result.stdin_unconsumed


async def test_streamed_input_is_delivered_in_full() -> None:
    """Input as an async iterator of bytes reaches the child whole and in order."""
    chunks = [bytes([i]) * (1000 + i * 37) for i in range(256)]

    async def stream() -> AsyncIterator[bytes]:
        for index, chunk in enumerate(chunks):
            yield chunk
            # Now and then let the child drain the pipe and block on an empty one.
            await anyio.sleep(0.002 if index % 32 == 0 else 0)

    result = await procio.run(["cat"], input=stream(), check=True)
    assert result.stdout == b"".join(chunks)
    assert not result.stdin_unconsumed


async def test_full_input_consumed_is_not_reported_unconsumed() -> None:
    """A child that reads all of a large input: stdin_unconsumed is False, output is exact."""
    data = os.urandom(3 * MIB)
    result = await procio.run(["cat"], input=data)
    assert result.ok
    assert result.stdout == data
    assert not result.stdin_unconsumed


async def test_partial_reader_exiting_zero_is_a_success() -> None:
    """Behaviour 3: ``head -c 10 >/dev/null`` offered 16 MiB is ok, with stdin_unconsumed."""
    result = await procio.run(["sh", "-c", "head -c 10 >/dev/null"], input=b"a" * (16 * MIB))
    assert result.ok
    assert result.returncode == 0
    assert result.stdin_unconsumed
    checked = await procio.run(
        ["sh", "-c", "head -c 10 >/dev/null"], input=b"a" * (16 * MIB), check=True
    )
    assert checked.returncode == 0


async def test_child_that_closes_stdin_and_runs_on_reports_its_later_exit() -> None:
    """Behaviour 3: stdin closed early, exit 3 later: run waits for and reports that 3."""
    result = await procio.run(
        ["sh", "-c", "exec 0<&-; sleep 0.3; echo done; exit 3"], input=b"q" * (4 * MIB)
    )
    assert result.returncode == 3
    assert result.stdout == b"done\n"
    assert result.stdin_unconsumed
    assert result.duration >= 0.3


async def test_partial_read_beyond_what_the_pipe_can_buffer_is_reported() -> None:
    """A child reading 10 bytes of input larger than a pipe holds did not take all of it.

    At most one pipe's worth can sit unread in the kernel, so the rest never left the parent:
    ``stdin_unconsumed`` must be True whatever the backend buffers in user space.
    """
    capacity = pipe_capacity()
    for size in (capacity + 4096, capacity + capacity // 2, 2 * capacity):
        result = await procio.run(["sh", "-c", "head -c 10 >/dev/null"], input=b"b" * size)
        assert result.returncode == 0
        assert result.stdin_unconsumed, f"{size} bytes offered, 10 read, reported consumed"


async def test_input_none_gives_dev_null_not_the_parents_stdin() -> None:
    """With no input the child's stdin is /dev/null: it reads EOF at once, never our stdin."""
    result = await procio.run(["sh", "-c", "readlink /proc/self/fd/0; cat; echo end"])
    assert result.stdout == b"/dev/null\nend\n"
    assert not result.stdin_unconsumed


async def test_str_input_is_a_type_error() -> None:
    """Input must be bytes: a str is refused up front rather than guessed at."""
    with pytest.raises(TypeError):
        await procio.run(["cat"], input="text")  # type: ignore[arg-type]
