"""``procio.run_sync``: the same run for callers without an event loop, same arguments, same
results and errors."""

from __future__ import annotations

import signal
from functools import partial
from typing import Any

import anyio
import attrs
import pytest

import procio

MIB = 1024 * 1024
#: Echoes its input, writes to stderr, exits 3: exercises every field but pid and duration.
ECHO_AND_FAIL = ["sh", "-c", "cat; echo to-stderr >&2; exit 3"]


def comparable(result: procio.Result) -> dict[str, Any]:
    """A result's fields minus those that differ run to run (pid, duration)."""
    fields = attrs.asdict(result)
    del fields["pid"], fields["duration"]
    return fields


def test_run_sync_works_without_an_event_loop() -> None:
    """Called from plain code, run_sync starts its own loop and returns a Result."""
    result = procio.run_sync(ECHO_AND_FAIL, input=b"payload")
    assert isinstance(result, procio.Result)
    assert result.returncode == 3
    assert result.stdout == b"payload"
    assert result.stderr == b"to-stderr\n"
    assert not result.ok


def test_run_sync_raises_the_same_errors() -> None:
    """check=True, spawn failures and bad input raise just as ``run`` does."""
    with pytest.raises(procio.CommandFailed) as caught:
        procio.run_sync(ECHO_AND_FAIL, input=b"x", check=True)
    assert caught.value.result.returncode == 3
    with pytest.raises(procio.SpawnError):
        procio.run_sync(["procio-no-such-program-xyz"])
    with pytest.raises(TypeError):
        procio.run_sync(["cat"], input="text")


def test_run_sync_settles_stdin_and_reports_the_real_status() -> None:
    """Behaviour 1 through run_sync: an early exit on 16 MiB reports its own code."""
    result = procio.run_sync(["sh", "-c", "echo bye >&2; exit 4"], input=b"\0" * (16 * MIB))
    assert result.returncode == 4
    assert result.stderr == b"bye\n"
    assert result.stdin_unconsumed


def test_run_sync_timeout() -> None:
    """timeout and check behave as with ``run``: timed_out, or CommandTimeout with check."""
    result = procio.run_sync(["sleep", "30"], timeout=0.1)
    assert result.timed_out
    assert result.returncode == -signal.SIGTERM
    with pytest.raises(procio.CommandTimeout):
        procio.run_sync(["sleep", "30"], timeout=0.1, check=True)


@pytest.mark.anyio
async def test_run_sync_gives_the_same_results_as_run() -> None:
    """For the same call, run_sync (from a thread without a loop) and run agree field by field."""
    calls: list[tuple[list[str], dict[str, Any]]] = [
        (ECHO_AND_FAIL, {"input": b"same input"}),
        (["sh", "-c", "head -c 10; exit 0"], {"input": b"y" * MIB}),
        (["sh", "-c", "printf '\\377\\000'; kill -TERM $$"], {}),
        (["sh", "-c", 'printf %s "$PROCIO_TEST_VAR"'], {"env": {"PROCIO_TEST_VAR": "v"}}),
        (["yes"], {"max_output": 1000}),
        (["sleep", "30"], {"timeout": 0.05}),
    ]
    for argv, options in calls:
        in_loop = await procio.run(argv, **options)
        in_thread = await anyio.to_thread.run_sync(partial(procio.run_sync, argv, **options))
        assert comparable(in_thread) == comparable(in_loop), argv
