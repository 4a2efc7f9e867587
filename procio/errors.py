"""The errors procio raises: each one says what failed and carries what a caller needs to act."""

from __future__ import annotations

import shlex
import signal as _signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procio.result import Result

#: How much of the child's stderr an error message quotes, from its end.
STDERR_TAIL_BYTES = 4096
#: How much of the command line an error message quotes.
COMMAND_CHARS = 300


class ProcError(Exception):
    """Base of every error procio raises."""


class SpawnError(ProcError):
    """The process could not be started; ``errno`` says why."""

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


class CommandFailed(ProcError):
    """A run checked with ``check=True`` did not succeed; ``result`` holds everything it did."""

    def __init__(self, result: Result) -> None:
        super().__init__(describe_failure(result))
        self.result = result


class CommandTimeout(CommandFailed):
    """A run checked with ``check=True`` passed its deadline and was ended."""


def format_command(argv: tuple[str, ...]) -> str:
    """The command as a shell would quote it, cut to a readable length."""
    text = shlex.join(argv)
    return text if len(text) <= COMMAND_CHARS else text[: COMMAND_CHARS - 1] + "…"


def describe_outcome(result: Result) -> str:
    """How the run ended, in words: exit status, signal, timeout or output limit."""
    parts = []
    if result.timed_out:
        parts.append("timed out")
    if result.output_limit_exceeded:
        parts.append("exceeded the output limit")
    if result.signal is not None:
        try:
            name = _signal.Signals(result.signal).name
        except ValueError:
            name = f"signal {result.signal}"
        parts.append(f"killed by {name} ({result.signal})")
    else:
        parts.append(f"exit status {result.returncode}")
    return ", ".join(parts)


def stderr_tail(stderr: bytes, limit: int = STDERR_TAIL_BYTES) -> str:
    """The end of a child's stderr as text; undecodable bytes are shown escaped, never raised on."""
    tail = stderr[-limit:] if len(stderr) > limit else stderr
    text = tail.decode("utf-8", errors="backslashreplace").strip()
    return ("…" + text) if len(stderr) > limit else text


def describe_failure(result: Result) -> str:
    """One message naming the command, how it ended, and the child's own last words."""
    message = f"command failed: {format_command(result.argv)} ({describe_outcome(result)})"
    tail = stderr_tail(result.stderr)
    return f"{message}: {tail}" if tail else message
