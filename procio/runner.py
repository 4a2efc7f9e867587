"""Run one child process to its end: one function owns its whole life.

The order of events is the promise: stdin is settled (fed to the end or abandoned) before the
exit is reported, so the child's real status and stderr always win over a late pipe error;
and the child's whole process group is ended on every way out (timeout, output limit,
cancellation, descendants that hold the pipes), so nothing is orphaned or left a zombie.
"""

from __future__ import annotations

import errno as _errno
import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel

from procio.environment import EnvOverrides, child_environment
from procio.errors import CommandFailed, CommandTimeout, SpawnError
from procio.result import Result

DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024
DEFAULT_KILL_GRACE = 2.0
DEFAULT_PIPE_GRACE = 0.25
_CHUNK = 64 * 1024
#: After the group is killed, how long pipes held by escaped descendants are waited for.
_ABANDON_AFTER = 0.5

#: What a broken or closed stdin looks like, on either backend and on any platform.
PIPE_ERRORS = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    BrokenPipeError,
    ConnectionResetError,
    EOFError,
)

T = TypeVar("T")
Input = bytes | bytearray | memoryview | AsyncIterable[bytes] | Iterable[bytes] | None


async def run(
    argv: Sequence[str],
    *,
    input: Input = None,
    timeout: float | None = None,
    env: EnvOverrides | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = False,
    max_output: int = DEFAULT_MAX_OUTPUT,
    kill_grace: float = DEFAULT_KILL_GRACE,
    pipe_grace: float = DEFAULT_PIPE_GRACE,
    pass_fds: Sequence[int] = (),
) -> Result:
    """Run ``argv`` (no shell) to its end and report what it did.

    ``input`` is fed to the child's stdin (``None`` gives it ``/dev/null``); ``timeout`` bounds
    the whole run; ``env`` overrides a fresh copy of the environment (``None`` removes a
    variable); ``max_output`` caps each of stdout and stderr. With ``check=True`` a run that is
    not ``ok`` raises :class:`CommandFailed` (or :class:`CommandTimeout`). ``pass_fds`` are
    descriptors the child inherits (a lock it must keep held for as long as it lives).
    """
    command = _checked_argv(argv)
    input = _checked_input(input)
    environment = child_environment(env)
    executable = _resolve_executable(command[0], environment, cwd)
    started = time.monotonic()
    # Our own stdin pipe, written without user-space buffering: a byte counts as fed only
    # once the kernel has taken it, on either backend.
    stdin_read, stdin_write = os.pipe() if input is not None else (None, None)
    try:
        process = await anyio.open_process(
            [executable, *command[1:]],
            stdin=stdin_read if stdin_read is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=environment,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except BaseException as exc:
        if stdin_write is not None:
            os.close(stdin_write)
        if isinstance(exc, OSError):
            raise _spawn_error(command[0], cwd, exc) from None
        raise
    finally:
        if stdin_read is not None:
            os.close(stdin_read)

    life = _Life(process, stdin_write, kill_grace=kill_grace, max_output=max_output)
    try:
        async with anyio.create_task_group() as tasks:
            life.tasks = tasks
            tasks.start_soon(life.watch_exit)
            if input is not None:
                tasks.start_soon(life.feed, input)
            tasks.start_soon(life.drain, process.stdout, life.stdout)
            tasks.start_soon(life.drain, process.stderr, life.stderr)

            with anyio.move_on_after(math.inf if timeout is None else timeout) as deadline:
                await life.exited.wait()
            if deadline.cancelled_caught:
                life.timed_out = True
                await life.end_group()
            # The child has exited; descendants may hold the pipes a little longer.
            with anyio.move_on_after(pipe_grace):
                await life.io_done.wait()
            life.signal_group(signal.SIGKILL)
            with anyio.move_on_after(_ABANDON_AFTER):
                await life.io_done.wait()
            # Whatever is still pending (a pipe held by a descendant that left the group,
            # a write nobody reads) is abandoned: stdin counts as settled from here on.
            tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await life.close()

    if life.input_error is not None:
        raise life.input_error
    result = Result(
        argv=command,
        pid=process.pid,
        returncode=life.returncode,
        stdout=bytes(life.stdout),
        stderr=bytes(life.stderr),
        timed_out=life.timed_out,
        output_limit_exceeded=life.output_limit_exceeded,
        stdin_unconsumed=input is not None and not life.stdin_complete,
        duration=time.monotonic() - started,
    )
    if check and not result.ok:
        raise (CommandTimeout if result.timed_out else CommandFailed)(result)
    return result


def run_sync(argv: Sequence[str], **options: Any) -> Result:
    """:func:`run` for callers without an event loop: same arguments, blocks until done."""
    return call_blocking(partial(run, argv, **options))


def call_blocking(function: Callable[[], Awaitable[T]]) -> T:
    """Run an async function to its end on a fresh event loop and return what it returned.

    The result travels in a box rather than as the loop's own return value: on Python 3.11
    asyncio formats a finished main task's result as text, which costs a long time for
    megabytes of output.
    """
    box: list[T] = []

    async def boxed() -> None:
        box.append(await function())

    anyio.run(boxed)
    return box[0]


class _Life:
    """The mutable state of one run, shared by the tasks that feed, drain and watch the child."""

    def __init__(
        self,
        process: anyio.abc.Process,
        stdin_fd: int | None,
        *,
        kill_grace: float,
        max_output: int,
    ) -> None:
        self.process = process
        self.stdin_fd = stdin_fd
        self.kill_grace = kill_grace
        self.max_output = max_output
        self.tasks: anyio.abc.TaskGroup | None = None
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.exited = anyio.Event()
        self.io_done = anyio.Event()
        self._io_pending = 2 + (stdin_fd is not None)
        self.timed_out = False
        self.output_limit_exceeded = False
        self.stdin_complete = False
        self.input_error: BaseException | None = None
        self.returncode = 0
        self._ending = False

    async def watch_exit(self) -> None:
        """Set ``exited`` as soon as the child exits, whatever its descendants do with the pipes."""
        await self.process.wait()
        self.exited.set()

    async def feed(self, input: Input) -> None:
        """Write the input to the child's stdin; a broken pipe only means it stopped reading."""
        assert self.stdin_fd is not None
        fd = self.stdin_fd
        os.set_blocking(fd, False)
        try:
            if isinstance(input, (bytes, bytearray, memoryview)):
                await _send(fd, input)
            elif isinstance(input, AsyncIterable):
                async with _closing(input) as chunks:
                    async for chunk in chunks:
                        await _send(fd, chunk)
            else:
                assert input is not None
                for chunk in input:
                    await _send(fd, chunk)
            self.stdin_complete = True
        except PIPE_ERRORS:
            pass
        except OSError as exc:
            if exc.errno not in (_errno.EPIPE, _errno.ECONNRESET):
                self._fail_input(exc)
        except Exception as exc:  # the caller's own input iterator failed
            self._fail_input(exc)
        finally:
            self.close_stdin()
            self._io_finished()

    def close_stdin(self) -> None:
        """Close our end of the child's stdin: it sees end-of-file (or was abandoned)."""
        if self.stdin_fd is not None:
            fd, self.stdin_fd = self.stdin_fd, None
            os.close(fd)

    async def drain(self, stream: anyio.abc.ByteReceiveStream | None, sink: bytearray) -> None:
        """Read one output stream to its end, keeping at most ``max_output`` bytes of it."""
        assert stream is not None
        try:
            while True:
                chunk = await stream.receive(_CHUNK)
                room = self.max_output - len(sink)
                if len(chunk) > room:
                    sink += chunk[: max(room, 0)]
                    if not self.output_limit_exceeded:
                        self.output_limit_exceeded = True
                        assert self.tasks is not None
                        self.tasks.start_soon(self.end_group)
                else:
                    sink += chunk
        except (anyio.EndOfStream, *PIPE_ERRORS):
            pass
        finally:
            self._io_finished()

    async def end_group(self) -> None:
        """SIGTERM the whole group, then SIGKILL it once ``kill_grace`` has passed or it exits."""
        if self._ending:
            return
        self._ending = True
        self.signal_group(signal.SIGTERM)
        with anyio.move_on_after(self.kill_grace):
            await self.exited.wait()
        self.signal_group(signal.SIGKILL)

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to every process left in the child's process group."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    async def close(self) -> None:
        """End the group if it still runs, close the pipes, reap the child (run shielded)."""
        if not self.exited.is_set():  # the caller was cancelled mid-run
            self.signal_group(signal.SIGTERM)
            with anyio.move_on_after(self.kill_grace):
                await self.process.wait()
        self.signal_group(signal.SIGKILL)
        self.close_stdin()
        try:
            await self.process.aclose()
        except (*PIPE_ERRORS, OSError):
            await self.process.wait()
        assert self.process.returncode is not None
        self.returncode = self.process.returncode

    def _fail_input(self, exc: BaseException) -> None:
        self.input_error = exc
        self.signal_group(signal.SIGKILL)

    def _io_finished(self) -> None:
        self._io_pending -= 1
        if self._io_pending == 0:
            self.io_done.set()


def _checked_argv(argv: Sequence[str]) -> tuple[str, ...]:
    if isinstance(argv, (str, bytes)):
        raise TypeError(
            "argv must be a sequence of strings, not a single string (no shell is used)"
        )
    command = tuple(argv)
    if not command:
        raise ValueError("argv must name a program")
    for arg in command:
        if not isinstance(arg, str):
            raise TypeError(f"argv items must be str, got {type(arg).__name__}: {arg!r}")
    return command


def _checked_input(input: Input) -> Input:
    if input is None or isinstance(input, (bytes, bytearray, memoryview)):
        return input
    if isinstance(input, str):
        raise TypeError("input must be bytes, not str: encode it first")
    if isinstance(input, (AsyncIterable, Iterable)):
        return input
    raise TypeError(f"input must be bytes or an iterable of bytes, not {type(input).__name__}")


async def _send(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` to a non-blocking pipe, waiting whenever it is full."""
    view = memoryview(data).cast("B")
    while view:
        try:
            written = os.write(fd, view[:_CHUNK])
        except BlockingIOError:
            await anyio.wait_writable(fd)
            continue
        view = view[written:]
        await anyio.lowlevel.checkpoint()


@asynccontextmanager
async def _closing(chunks: AsyncIterable[bytes]) -> AsyncIterator[AsyncIterable[bytes]]:
    """Close the caller's async generator when feeding stops early, as ``aclosing`` would."""
    try:
        yield chunks
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()


def _resolve_executable(
    program: str, env: dict[str, str], cwd: str | os.PathLike[str] | None
) -> str:
    """Find ``program`` on the child's PATH, or say plainly why it cannot be run."""
    if cwd is not None and not os.path.isdir(cwd):
        raise SpawnError(
            f"cannot run {program!r}: working directory {os.fspath(cwd)!r} does not exist",
            _errno.ENOENT,
        )
    if os.sep in program:
        return program
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise SpawnError(f"cannot run {program!r}: not found on PATH", _errno.ENOENT)
    return found


def _spawn_error(program: str, cwd: str | os.PathLike[str] | None, exc: OSError) -> SpawnError:
    where = f" in {os.fspath(cwd)!r}" if cwd is not None else ""
    return SpawnError(f"cannot run {program!r}{where}: {exc.strerror or exc}", exc.errno)
