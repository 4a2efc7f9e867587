"""The documented errors and the Result value: what each carries and what its message says."""

from __future__ import annotations

import errno
import signal
from pathlib import Path

import attrs
import pytest

import procio

pytestmark = pytest.mark.anyio


def test_error_hierarchy() -> None:
    """Every procio error is a ProcError; a timeout is a kind of CommandFailed."""
    assert issubclass(procio.SpawnError, procio.ProcError)
    assert issubclass(procio.CommandFailed, procio.ProcError)
    assert issubclass(procio.CommandTimeout, procio.CommandFailed)
    assert issubclass(procio.ProcError, Exception)


async def test_missing_executable_on_path_is_a_spawn_error() -> None:
    """An unknown program raises SpawnError with errno set and the program named."""
    with pytest.raises(procio.SpawnError) as caught:
        await procio.run(["procio-no-such-program-xyz", "arg"])
    assert caught.value.errno == errno.ENOENT
    assert "procio-no-such-program-xyz" in str(caught.value)


async def test_missing_executable_by_path_is_a_spawn_error(tmp_path: Path) -> None:
    """A program given by a path that does not exist: SpawnError naming it, ENOENT."""
    missing = tmp_path / "no" / "such-program"
    with pytest.raises(procio.SpawnError) as caught:
        await procio.run([str(missing)])
    assert caught.value.errno == errno.ENOENT
    assert str(missing) in str(caught.value)


async def test_non_executable_file_is_a_spawn_error(tmp_path: Path) -> None:
    """A file without execute permission: SpawnError with EACCES, naming the file."""
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(procio.SpawnError) as caught:
        await procio.run([str(script)])
    assert caught.value.errno == errno.EACCES
    assert str(script) in str(caught.value)


async def test_missing_cwd_is_a_spawn_error_naming_the_directory(tmp_path: Path) -> None:
    """A working directory that does not exist: SpawnError whose message names it."""
    missing = tmp_path / "gone"
    with pytest.raises(procio.SpawnError) as caught:
        await procio.run(["true"], cwd=missing)
    assert caught.value.errno is not None
    assert str(missing) in str(caught.value)


async def test_cwd_is_used(tmp_path: Path) -> None:
    """The child starts in ``cwd``."""
    result = await procio.run(["pwd", "-P"], cwd=tmp_path)
    assert result.stdout.decode().strip() == str(tmp_path.resolve())


async def test_command_failed_names_command_status_and_stderr_tail() -> None:
    """CommandFailed: carries the result; the message has command, status, stderr."""
    argv = ["sh", "-c", "echo 'first line' >&2; echo 'fatal: the real reason' >&2; exit 42"]
    with pytest.raises(procio.CommandFailed) as caught:
        await procio.run(argv, check=True)
    error = caught.value
    assert type(error) is procio.CommandFailed
    assert error.result.returncode == 42
    assert error.result.argv == tuple(argv)
    message = str(error)
    assert "sh -c" in message
    assert "exit status 42" in message
    assert "fatal: the real reason" in message


async def test_command_failed_quotes_the_end_of_a_long_stderr() -> None:
    """The message quotes the tail of the child's stderr, where its last word is."""
    script = (
        "i=0; while [ $i -lt 3000 ]; do echo noise $i >&2; i=$((i+1)); done; echo LAST >&2; exit 1"
    )
    with pytest.raises(procio.CommandFailed) as caught:
        await procio.run(["sh", "-c", script], check=True)
    message = str(caught.value)
    assert message.rstrip().endswith("LAST")
    assert "noise 2999" in message
    assert "noise 0\n" not in message
    assert len(message) < 10_000


async def test_command_failed_with_invalid_utf8_stderr_still_has_a_message() -> None:
    """Invalid UTF-8 in stderr never breaks the message; the readable part is verbatim."""
    script = r"printf '\377\376 broken \303\050 tail\n' >&2; exit 3"
    with pytest.raises(procio.CommandFailed) as caught:
        await procio.run(["sh", "-c", script], check=True)
    message = str(caught.value)
    assert "exit status 3" in message
    assert "broken" in message
    assert "tail" in message
    assert caught.value.result.stderr == b"\xff\xfe broken \xc3( tail\n"


async def test_killed_by_signal_gives_negative_returncode_and_signal() -> None:
    """A child killed by signal N has returncode -N and signal N; the message names it."""
    result = await procio.run(["sh", "-c", "kill -KILL $$"])
    assert result.returncode == -signal.SIGKILL
    assert result.signal == signal.SIGKILL
    assert not result.ok
    with pytest.raises(procio.CommandFailed) as caught:
        await procio.run(["sh", "-c", "kill -USR1 $$"], check=True)
    assert caught.value.result.signal == signal.SIGUSR1
    assert caught.value.result.returncode == -signal.SIGUSR1
    assert "SIGUSR1" in str(caught.value)


async def test_exit_status_is_not_a_signal() -> None:
    """A plain non-zero exit has no signal, and 128+N is an exit status, not a signal."""
    result = await procio.run(["sh", "-c", "exit 137"])
    assert result.returncode == 137
    assert result.signal is None
    ok = await procio.run(["true"])
    assert ok.signal is None
    assert ok.ok


async def test_check_false_never_raises_for_a_failure() -> None:
    """check=False (the default) returns failures as results."""
    result = await procio.run(["false"])
    assert result.returncode == 1
    assert not result.ok


async def test_result_is_frozen() -> None:
    """Result is immutable: assigning to any field raises FrozenInstanceError."""
    result = await procio.run(["true"])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.returncode = 1  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.stdout = b"forged"  # type: ignore[misc]
    assert result.returncode == 0


async def test_result_fields() -> None:
    """A result has the documented fields with the documented types."""
    result = await procio.run(["sh", "-c", "echo out; echo err >&2"], input=b"")
    assert result.argv == ("sh", "-c", "echo out; echo err >&2")
    assert isinstance(result.pid, int)
    assert result.pid > 0
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")
    assert result.timed_out is False
    assert result.output_limit_exceeded is False
    assert result.stdin_unconsumed is False
    assert isinstance(result.duration, float)
    assert result.duration >= 0


async def test_str_input_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """input of type str raises TypeError and no process is started."""
    marker = tmp_path / "ran"
    with pytest.raises(TypeError):
        await procio.run(["touch", str(marker)], input="not bytes")  # type: ignore[arg-type]
    assert not marker.exists()


async def test_argv_as_a_single_string_is_refused() -> None:
    """argv must be a sequence: a whole command line in one string is a TypeError."""
    with pytest.raises(TypeError):
        await procio.run("echo hi")
