"""One writer at a time per store, across processes: captures, restores, reverts and gc.

The lock is a ``filelock`` (the OS drops it when its holder dies). Its descriptor is passed to
every git child of the writer, so the lock lasts as long as the last process of the operation:
a git child orphaned by a killed ``snap`` keeps it. Waiting is bounded and is done without
blocking the event loop; on timeout the error names the holder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import filelock

from snapshot.errors import StoreBusy
from snapshot.git import INHERITED_FDS

_POLL = 0.02


@contextlib.asynccontextmanager
async def store_lock(
    lock_path: Path, holder_path: Path, timeout: float, what: str
) -> AsyncIterator[None]:
    """Hold the store's lock for ``what``; wait at most ``timeout`` seconds for it."""
    held: list[int] = []
    lock = filelock.FileLock(str(lock_path), thread_local=False, on_acquired=held.append)
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except filelock.Timeout:
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    f"the store is busy: waited {timeout:g}s for its lock ({lock_path}), "
                    f"held by {_describe_holder(lock_path, holder_path)}"
                ) from None
            await anyio.sleep(_POLL)
    token = INHERITED_FDS.set((held[-1],)) if held else None
    try:
        _write_holder(holder_path, what)
        yield
    finally:
        if token is not None:
            INHERITED_FDS.reset(token)
        with contextlib.suppress(OSError):
            holder_path.unlink()
        lock.release()


def _write_holder(path: Path, what: str) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "operation": what,
        "command": " ".join(sys.argv)[:200],
        "since": time.time(),
    }
    temp = path.with_name(path.name + f".{os.getpid()}")
    temp.write_text(json.dumps(record))
    os.replace(temp, path)


def _describe_holder(lock_path: Path, holder_path: Path) -> str:
    """Who holds the lock: the kernel's word (``/proc/locks``) first, then the holder record."""
    try:
        record = json.loads(holder_path.read_text())
    except (OSError, ValueError):
        record = {}
    pids = _flock_holders(lock_path)
    if pids and record.get("pid") not in pids:
        record = {"pid": pids[0], "command": _command_line(pids[0])}
    if not record:
        return "another process (no holder recorded)"
    text = f"pid {record.get('pid')}"
    if record.get("host"):
        text += f" on {record['host']}"
    if record.get("operation"):
        text += f" ({record['operation']})"
    if record.get("command"):
        text += f": {record['command']!r}"
    if record.get("since"):
        text += f", for {time.time() - float(record['since']):.1f}s"
    return text


def _flock_holders(lock_path: Path) -> list[int]:
    """The pids holding a ``flock`` on ``lock_path``, as Linux lists them in ``/proc/locks``."""
    try:
        info = os.stat(lock_path)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    wanted = (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    pids = []
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 6:
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == wanted:
                pids.append(int(fields[4]))
        except ValueError:
            continue
    return pids


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200]
