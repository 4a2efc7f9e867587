"""Writers are serialized across processes with filelock; waiting is bounded; readers never wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from snaptools import Snap, assert_one_error_line, populate, snap_ids

from snapshot import SnapError, Store, StoreBusy, SyncStore

pytestmark = pytest.mark.anyio

SNAP = (sys.executable, "-m", "snapshot.cli")
HOLDER_SCRIPT = """
import filelock, sys, time
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def hold_lock() -> Iterator[Callable[[Path, float], subprocess.Popen[bytes]]]:
    """Start a process that takes the store's lock with ``filelock`` and sleeps holding it."""
    started: list[subprocess.Popen[bytes]] = []

    def start(store_dir: Path, seconds: float = 60.0) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER_SCRIPT, str(store_dir / "snap" / "lock"), str(seconds)],
            stdout=subprocess.PIPE,
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline() == b"held\n"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_two_processes_capturing_at_once_both_succeed(project: Path, store_dir: Path) -> None:
    """Three CLI captures started together on a store that does not exist yet: all succeed."""
    populate(project, {f"bulk/{n:03}.txt": f"{n}\n".encode() * 50 for n in range(200)})
    base = [*SNAP, "-C", str(project), "--store", str(store_dir)]
    processes = [
        subprocess.Popen(
            [*base, "--json", "capture", "-m", f"process {n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(3)
    ]
    results = [(p, *p.communicate(timeout=120)) for p in processes]
    ids = []
    for process, out, err in results:
        assert process.returncode == 0, err
        assert err == b""
        ids.append(json.loads(out)["id"])
    assert len(set(ids)) == 3
    store = SyncStore.open(project, store=store_dir)
    listed = store.list()
    assert {s.id for s in listed} == set(ids)
    assert {s.message for s in listed} == {"process 0", "process 1", "process 2"}
    assert sorted(snap_ids(store_dir)) == sorted(ids)
    assert store.verify().ok


async def test_a_held_lock_makes_a_writer_fail_naming_the_holder(
    project: Path, store_dir: Path, hold_lock: Callable[[Path, float], subprocess.Popen[bytes]]
) -> None:
    """With the lock held elsewhere, capture waits about lock_timeout, then fails naming the pid."""
    store = await Store.open(project, store=store_dir, lock_timeout=0.5)
    await store.capture()
    holder = hold_lock(store_dir, 60.0)
    started = time.monotonic()
    with pytest.raises(StoreBusy) as caught:
        await store.capture()
    waited = time.monotonic() - started
    assert 0.4 <= waited < 5
    assert str(holder.pid) in str(caught.value), str(caught.value)


async def test_every_writer_is_serialized(
    project: Path, store_dir: Path, hold_lock: Callable[[Path, float], subprocess.Popen[bytes]]
) -> None:
    """restore, revert and gc take the same lock as capture; none of them changes anything."""
    store = await Store.open(project, store=store_dir, lock_timeout=0.3)
    first = await store.capture()
    populate(project, {"README.md": b"# changed\n"})
    hold_lock(store_dir, 60.0)
    for attempt in (
        store.capture(),
        store.restore(first.id),
        store.revert(first.id, ["README.md"]),
        store.gc(older_than=0),
    ):
        with pytest.raises(StoreBusy):
            await attempt
    assert (project / "README.md").read_bytes() == b"# changed\n"
    assert snap_ids(store_dir) == [first.id]


def test_cli_reports_a_busy_store_in_one_line(
    project: Path, store_dir: Path, hold_lock: Callable[[Path, float], subprocess.Popen[bytes]]
) -> None:
    """``snap --lock-timeout 0.5 capture`` exits 1 with one ``snap: error:`` line naming the pid."""
    snap = Snap(project, store_dir)
    snap.json("capture")
    holder = hold_lock(store_dir, 60.0)
    code, out, err = snap("--lock-timeout", "0.5", "capture")
    line = assert_one_error_line(code, err)
    assert out == b""
    assert str(holder.pid) in line, line


async def test_the_error_names_a_snap_process_holding_the_lock(
    project: Path, store_dir: Path
) -> None:
    """A snap capture frozen while it holds the lock is named (pid) in the busy error."""
    populate(project, {f"bulk/{n:04}.txt": os.urandom(64) for n in range(300)})
    store = await Store.open(project, store=store_dir, lock_timeout=0.3)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "snapshot.cli",
            "-C",
            str(project),
            "--store",
            str(store_dir),
            "capture",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        holder_file = store_dir / "snap" / "lock.holder"
        deadline = time.monotonic() + 30
        while not holder_file.exists() and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        process.send_signal(signal.SIGSTOP)
        if process.poll() is not None or not holder_file.exists():
            pytest.skip("the capture finished before it could be frozen")
        with pytest.raises(StoreBusy) as caught:
            await store.capture()
        assert str(process.pid) in str(caught.value)
    finally:
        process.send_signal(signal.SIGCONT)
        assert process.wait(timeout=60) == 0


async def test_the_lock_is_released_when_its_holder_dies(
    project: Path, store_dir: Path, hold_lock: Callable[[Path, float], subprocess.Popen[bytes]]
) -> None:
    """SIGKILL the holder: the next capture gets the lock at once."""
    store = await Store.open(project, store=store_dir, lock_timeout=5)
    holder = hold_lock(store_dir, 60.0)
    holder.kill()
    holder.wait()
    started = time.monotonic()
    await store.capture()
    assert time.monotonic() - started < 4


async def test_a_writer_waits_for_a_short_holder(
    project: Path, store_dir: Path, hold_lock: Callable[[Path, float], subprocess.Popen[bytes]]
) -> None:
    """A holder that lets go after a second: the capture waits for it, then succeeds."""
    store = await Store.open(project, store=store_dir, lock_timeout=30)
    holder = hold_lock(store_dir, 1.0)
    started = time.monotonic()
    snapshot = await store.capture()
    assert time.monotonic() - started >= 0.5
    assert holder.wait(timeout=30) == 0
    assert snap_ids(store_dir) == [snapshot.id]


async def test_reading_never_waits_for_the_lock(
    project: Path, store_dir: Path, hold_lock: Callable[[Path, float], subprocess.Popen[bytes]]
) -> None:
    """list, show, cat, diff (also against the working tree) and changed work while it is held."""
    store = await Store.open(project, store=store_dir, lock_timeout=30)
    first = await store.capture()
    populate(project, {"README.md": b"# edited\n"})
    second = await store.capture()
    hold_lock(store_dir, 60.0)
    started = time.monotonic()
    assert [s.id for s in await store.list()] == [second.id, first.id]
    assert (await store.show("latest")).id == second.id
    assert await store.cat(first.id, "README.md") == b"# project\n"
    assert [c.path for c in (await store.diff(first.id, second.id)).changes] == ["README.md"]
    populate(project, {"new.txt": b"n\n"})
    assert [c.path for c in (await store.diff()).changes] == ["new.txt"]
    assert await store.changed(first.id) == ["README.md", "new.txt"]
    assert time.monotonic() - started < 10
    # And through the CLI, each in a process of its own, with a lock timeout far longer.
    snap = Snap(project, store_dir)
    for args in (["list"], ["diff", first.id], ["cat", first.id, "README.md"]):
        began = time.monotonic()
        code, _, err = snap("--lock-timeout", "60", *args)
        assert code == 0, err
        assert time.monotonic() - began < 10


def test_snap_error_is_the_base_of_store_busy() -> None:
    """Callers can catch every store failure as SnapError."""
    assert issubclass(StoreBusy, SnapError)
