"""Behaviours 4 and 8: both output streams are drained at once, and kept byte for byte."""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

import anyio
import pytest

import procio

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
#: A run here takes well under a second; one that deadlocks fails the test after this long.
HANG_LIMIT = 20.0


async def bounded_run(argv: list[str], **options: Any) -> procio.Result:
    """``procio.run``, failing the test with TimeoutError rather than hanging on a deadlock."""
    with anyio.fail_after(HANG_LIMIT):
        return await procio.run(argv, **options)


#: Writes 8 MiB to stdout and 8 MiB to stderr *before* reading anything, then reads all of
#: stdin and reports its length and digest: it deadlocks unless the parent drains both
#: streams while it is still writing stdin.
WRITE_THEN_READ = """
import hashlib, sys
out, err = sys.stdout.buffer, sys.stderr.buffer
block = bytes(range(256)) * 4096
for _ in range(8):
    out.write(block)
    err.write(block[::-1])
out.flush()
err.flush()
data = sys.stdin.buffer.read()
out.write(b"%d %s\\n" % (len(data), hashlib.sha256(data).hexdigest().encode()))
"""

#: Every byte value, then sequences that are not valid UTF-8 in several ways.
AWKWARD_BYTES = (
    bytes(range(256))
    + b"\xff\xfe\xfd"  # never valid in UTF-8
    + b"\xc3\x28"  # broken two-byte sequence
    + b"\xed\xa0\x80"  # an encoded surrogate
    + b"\xf0\x9f\x98"  # truncated four-byte sequence
    + b"\x00\r\n\x1b[31m"  # NUL, CRLF, an escape sequence
    + "naïve ✓".encode()
    + b"\xe2\x82"  # ends in the middle of a character
)


async def test_stdout_and_stderr_drain_concurrently_while_stdin_is_fed() -> None:
    """Behaviour 4: 8 MiB out, 8 MiB err, then 8 MiB in: completes, every byte exact."""
    data = os.urandom(8 * MIB)
    result = await bounded_run([sys.executable, "-c", WRITE_THEN_READ], input=data)
    assert result.returncode == 0, result.stderr[-2000:]
    block = bytes(range(256)) * 4096
    report = b"%d %s\n" % (len(data), hashlib.sha256(data).hexdigest().encode())
    assert len(result.stdout) == 8 * MIB + len(report)
    assert result.stdout == block * 8 + report
    assert result.stderr == block[::-1] * 8
    assert not result.stdin_unconsumed
    assert result.ok


async def test_interleaved_large_output_on_both_streams_is_exact() -> None:
    """Both pipes filled alternately in small writes: neither stream loses or reorders bytes."""
    script = """
import sys
for i in range(20000):
    line = b"%06d\\n" % i
    sys.stdout.buffer.write(line)
    sys.stderr.buffer.write(line[::-1])
"""
    result = await bounded_run([sys.executable, "-c", script])
    assert result.returncode == 0
    assert result.stdout == b"".join(b"%06d\n" % i for i in range(20000))
    assert result.stderr == b"".join((b"%06d\n" % i)[::-1] for i in range(20000))


async def test_binary_and_invalid_utf8_are_kept_byte_for_byte() -> None:
    """Behaviour 8: every byte value and invalid UTF-8 round-trip through stdout and stderr."""
    payload = AWKWARD_BYTES * 300
    result = await bounded_run(["sh", "-c", "tee /dev/stderr"], input=payload)
    assert result.ok
    assert isinstance(result.stdout, bytes)
    assert isinstance(result.stderr, bytes)
    assert result.stdout == payload
    assert result.stderr == payload


async def test_error_message_from_binary_stderr_never_raises() -> None:
    """Behaviour 8: a failure whose stderr is arbitrary bytes still makes a readable error."""
    result = await bounded_run(["sh", "-c", "cat >&2; exit 9"], input=AWKWARD_BYTES)
    assert result.returncode == 9
    assert result.stderr == AWKWARD_BYTES
    error = procio.CommandFailed(result)
    message = str(error)
    assert "exit status 9" in message
    assert "naïve ✓" in message  # the valid text is quoted as it is
    assert "\\xff\\xfe\\xfd" in message  # the invalid bytes are shown, escaped
    repr(error)
    with pytest.raises(procio.CommandFailed) as caught:
        await bounded_run(["sh", "-c", "cat >&2; exit 9"], input=AWKWARD_BYTES, check=True)
    assert str(caught.value) == message
    assert caught.value.result.stderr == AWKWARD_BYTES


async def test_stdout_without_trailing_newline_and_empty_output_are_exact() -> None:
    """No newline is added or stripped: the output is what the child wrote, nothing else."""
    result = await bounded_run(["printf", "%s", "no newline"])
    assert result.stdout == b"no newline"
    empty = await bounded_run(["true"])
    assert (empty.stdout, empty.stderr) == (b"", b"")
