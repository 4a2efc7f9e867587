"""One writer at a time per store, across processes: captures, restores, reverts and gc.

The lock is a ``filelock`` (the OS drops it when its holder dies). Waiting is bounded and is
done without blocking the event loop; on timeout the error names the holder.
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

DEFAULT_LOCK_TIMEOUT = 60.0
_POLL = 0.02


@contextlib.asynccontextmanager
async def store_lock(
    lock_path: Path, holder_path: Path, timeout: float, what: str
) -> AsyncIterator[None]:
    """Hold the store's lock for ``what``; wait at most ``timeout`` seconds for it."""
    lock = filelock.FileLock(str(lock_path), thread_local=False)
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except filelock.Timeout:
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    f"the store is busy: waited {timeout:g}s for its lock ({lock_path}), "
                    f"held by {_describe_holder(holder_path)}"
                ) from None
            await anyio.sleep(_POLL)
    try:
        _write_holder(holder_path, what)
        yield
    finally:
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


def _describe_holder(path: Path) -> str:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return "another process (no holder recorded)"
    held = time.time() - float(record.get("since", time.time()))
    return (
        f"pid {record.get('pid')} on {record.get('host')} ({record.get('operation')}: "
        f"{record.get('command')!r}) for {held:.1f}s"
    )
