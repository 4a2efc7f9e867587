"""The value a finished run reports."""

from __future__ import annotations

import attrs


@attrs.frozen
class Result:
    """Everything a finished child did: its exit, its output, and which limits it hit."""

    argv: tuple[str, ...]
    pid: int
    #: As in :mod:`subprocess`: negative ``-N`` when the child was killed by signal ``N``.
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    output_limit_exceeded: bool = False
    #: The child did not take all of the input offered on its stdin: some of it never reached
    #: the pipe. (What the kernel's pipe buffer, 64 KiB on Linux, still held unread when the
    #: child exited cannot be seen from here.)
    stdin_unconsumed: bool = False
    duration: float = 0.0

    @property
    def signal(self) -> int | None:
        """The signal that killed the child, or ``None`` when it exited by itself."""
        return -self.returncode if self.returncode < 0 else None

    @property
    def ok(self) -> bool:
        """True when the child exited 0 and no limit was hit."""
        return self.returncode == 0 and not self.timed_out and not self.output_limit_exceeded
