"""Property tests: whatever the input size, how much of it the child reads before it exits,
and with what status, the reported return code is the child's real one, and nothing but the
documented errors surfaces.

Hypothesis drives a sync test; each example runs ``procio.run`` under the backend the test is
parametrized with, through ``anyio.run``. The number of examples comes from the active
Hypothesis profile; only the deadline is lifted, since every example starts real processes.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import procio
from procio import Result

BACKENDS = ("asyncio", "trio")
MAX_INPUT = 2 * 1024 * 1024
#: Reads the first ``$1`` bytes of its input, then exits ``$2`` without reading the rest.
READ_THEN_EXIT = 'head -c "$1" >/dev/null; exit "$2"'
#: Reads the first ``$1`` bytes of its input, then kills itself with signal ``$2``.
READ_THEN_DIE = 'head -c "$1" >/dev/null; kill -s "$2" $$'
#: Signals whose default action ends the process.
TERMINATING_SIGNALS = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGKILL,
    signal.SIGPIPE,
)


def ignored_by_this_process() -> int:
    """The kernel's mask of signals this process ignores (``SigIgn``), which children inherit.

    Started in the background or under ``nohup``, pytest ignores SIGINT or SIGHUP and so
    would every child; SIGPIPE is the one procio must give back its default action.
    """
    status = Path("/proc/self/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("SigIgn:")]
    return int(line.split()[1], 16)


#: The terminating signals a child of ours can die of.
FATAL_SIGNALS = tuple(
    signum
    for signum in TERMINATING_SIGNALS
    if signum in (signal.SIGPIPE, signal.SIGKILL)
    or not ignored_by_this_process() & (1 << (signum - 1))
)


@dataclass(frozen=True)
class Scenario:
    """One run: how much input, how much of it the child reads, how it is fed."""

    size: int
    read: int
    chunk: int | None  # None: fed as bytes; otherwise streamed in chunks of this size

    @property
    def reads_everything(self) -> bool:
        """The child reads at least as much as it is offered."""
        return self.read >= self.size


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Input sizes up to 2 MiB, with read points biased to the edges: 0, all, just short."""
    size = draw(st.integers(0, MAX_INPUT))
    read = draw(
        st.one_of(
            st.integers(0, MAX_INPUT + 4096),
            st.sampled_from([0, 1, max(size - 1, 0), size, size + 1]),
        )
    )
    # Streamed in 1 to 64 pieces: any chunk size, without millions of one-byte chunks.
    pieces = draw(st.one_of(st.none(), st.integers(1, 64)))
    chunk = None if pieces is None else max(1, -(-size // pieces))
    return Scenario(size=size, read=read, chunk=chunk)


def make_input(scenario: Scenario) -> bytes | AsyncIterator[bytes]:
    """The input of ``scenario``: bytes, or an async iterator of chunks of it."""
    data = bytes(range(256)) * (scenario.size // 256) + b"\0" * (scenario.size % 256)
    if scenario.chunk is None:
        return data
    chunk = scenario.chunk

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), chunk):
            yield data[start : start + chunk]

    return stream()


def run_on(backend: str, argv: list[str], scenario: Scenario, *, check: bool) -> Result:
    """Run ``argv`` with the scenario's input on ``backend``, outside any running loop."""
    call = partial(procio.run, argv, input=make_input(scenario), check=check)
    return anyio.run(call, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(deadline=None)
@given(scenario=scenarios(), code=st.integers(0, 255))
def test_exit_code_is_the_childs_real_one(backend: str, scenario: Scenario, code: int) -> None:
    """check=False: returncode is the child's exit code; a full read is never "unconsumed"."""
    argv = ["sh", "-c", READ_THEN_EXIT, "sh", str(scenario.read), str(code)]
    result = run_on(backend, argv, scenario, check=False)
    assert result.returncode == code
    assert result.signal is None
    assert result.ok == (code == 0)
    assert not result.timed_out
    assert not result.output_limit_exceeded
    assert (result.stdout, result.stderr) == (b"", b"")
    if scenario.reads_everything:
        assert not result.stdin_unconsumed


@pytest.mark.parametrize("backend", BACKENDS)
@settings(deadline=None)
@given(scenario=scenarios(), code=st.integers(0, 255))
def test_check_true_raises_only_command_failed_with_the_real_code(
    backend: str, scenario: Scenario, code: int
) -> None:
    """check=True: success returns, failure raises CommandFailed carrying the real code."""
    argv = ["sh", "-c", READ_THEN_EXIT, "sh", str(scenario.read), str(code)]
    if code == 0:
        result = run_on(backend, argv, scenario, check=True)
        assert result.returncode == 0
        return
    with pytest.raises(procio.CommandFailed) as caught:
        run_on(backend, argv, scenario, check=True)
    assert type(caught.value) is procio.CommandFailed
    assert caught.value.result.returncode == code
    assert f"exit status {code}" in str(caught.value)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(deadline=None)
@given(scenario=scenarios(), signum=st.sampled_from(FATAL_SIGNALS))
def test_death_by_signal_is_reported_as_that_signal(
    backend: str, scenario: Scenario, signum: signal.Signals
) -> None:
    """A child that reads some input then dies of signal N reports -N, whatever the pipe did."""
    argv = ["sh", "-c", READ_THEN_DIE, "sh", str(scenario.read), signum.name.removeprefix("SIG")]
    result = run_on(backend, argv, scenario, check=False)
    assert result.returncode == -signum
    assert result.signal == signum
    assert not result.ok
    if scenario.reads_everything:
        assert not result.stdin_unconsumed
