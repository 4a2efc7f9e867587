"""A stale ``index.lock`` anywhere near the store's indexes, or a killed capture, never blocks.

This is the bug the design exists to make impossible: one stale lock in a shared snapshot
index blocked every later capture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from snaptools import Snap, fingerprint, git, populate, snap_ids, store_git, tree_of

from snapshot import SnapError, Store, SyncStore

pytestmark = pytest.mark.anyio


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def plant_stale_locks(store: Path) -> list[Path]:
    """``index.lock`` in the store, ``<name>.lock`` next to every index file, and in snap/tmp.

    The scratch folder also gets locks named like the scoped indexes of a live process (this
    one) and of a dead one, so "next to the scoped index" is covered whatever name it takes.
    """
    planted = [store / "index.lock"]
    for path in store.rglob("index*"):
        if path.is_file() and not path.name.endswith(".lock"):
            planted.append(path.with_name(path.name + ".lock"))
    scratch = store / "snap" / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    planted += [
        scratch / "index.lock",
        scratch / f"capture-index-{os.getpid()}-{'0' * 16}.lock",
        scratch / f"read-index-{os.getpid()}-{'1' * 16}.lock",
        scratch / f"capture-index-{dead_pid()}-{'2' * 16}.lock",
    ]
    for lock in planted:
        lock.write_bytes(b"")
    return planted


@pytest.mark.parametrize("when", ["before-first-capture", "after-first-capture"])
async def test_stale_index_locks_never_block_a_capture(
    project: Path, store_dir: Path, when: str
) -> None:
    """With stale locks planted everywhere, capture, diff, restore and revert all succeed."""
    store = await Store.open(project, store=store_dir)
    first = None
    if when == "after-first-capture":
        first = await store.capture()
        assert (store_dir / "index").is_file()
    planted = plant_stale_locks(store_dir)
    assert store_dir / "index.lock" in planted
    populate(project, {"after-locks.txt": b"written after the locks were planted\n"})
    second = await store.capture()
    planted_text = b"written after the locks were planted\n"
    assert await store.cat(second.id, "after-locks.txt") == planted_text
    assert tree_of(store_dir, second.id) == second.tree
    # Locks planted again after that capture (the index was promoted) block nothing either.
    plant_stale_locks(store_dir)
    populate(project, {"after-locks.txt": b"changed\n"})
    assert await store.changed() == ["after-locks.txt"]
    third = await store.capture()
    assert await store.cat(third.id, "after-locks.txt") == b"changed\n"
    restored = await store.restore(second.id)
    assert (project / "after-locks.txt").read_bytes() == planted_text
    reverted = await store.revert(first.id if first else third.id, ["after-locks.txt"])
    assert restored.undo and reverted.undo
    # And a capture through the CLI, in a process of its own.
    plant_stale_locks(store_dir)
    created = Snap(project, store_dir).json("capture")
    assert created["id"] in snap_ids(store_dir)


async def test_stale_project_index_lock_does_not_block(project: Path, store_dir: Path) -> None:
    """A stale ``.git/index.lock`` in the project blocks nothing and is left where it is."""
    lock = project / ".git" / "index.lock"
    lock.write_bytes(b"")
    store = await Store.open(project, store=store_dir)
    populate(project, {"README.md": b"changed under a locked project index\n"})
    snapshot = await store.capture()
    assert await store.cat(snapshot.id, "README.md") == b"changed under a locked project index\n"
    assert lock.exists()


async def test_leftovers_of_dead_captures_are_cleaned(project: Path, store_dir: Path) -> None:
    """Scratch files and folders owned by a dead process are removed by the next capture."""
    store = await Store.open(project, store=store_dir)
    await store.capture()
    scratch = store_dir / "snap" / "tmp"
    pid = dead_pid()
    leftovers = [
        scratch / f"capture-index-{pid}-{'a' * 16}",
        scratch / f"capture-index-{pid}-{'a' * 16}.lock",
        scratch / f"read-index-{pid}-{'b' * 16}",
    ]
    for path in leftovers:
        path.write_bytes(b"DIRC leftover")
    objects = scratch / f"read-objects-{pid}-{'c' * 16}"
    (objects / "ab").mkdir(parents=True)
    (objects / "ab" / ("c" * 38)).write_bytes(b"junk")
    await store.capture()
    assert sorted(os.listdir(scratch)) == []


# ------------------------------------------------------------------------ killed captures


@pytest.fixture(scope="module")
def fast_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scratch folder on tmpfs when there is one: the disk here makes big captures slow."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        base = Path(tempfile.mkdtemp(prefix="snap-tests-", dir=shm))
        try:
            yield base
        finally:
            shutil.rmtree(base, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("fast")


@pytest.fixture(scope="module")
def large_tree(fast_tmp: Path) -> tuple[Path, str]:
    """A tree of 4,000 files whose cold capture takes a while, and its Git tree hash."""
    root = fast_tmp / "tree"
    for folder in range(40):
        for number in range(100):
            path = root / f"d{folder:02}" / f"f{number:03}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(1024))
    git_dir = fast_tmp / "reference.git"
    git("init", "--quiet", "--bare", git_dir)
    return root, _write_tree(git_dir, root, fast_tmp / "reference-index")


def _write_tree(git_dir: Path, worktree: Path, index: Path) -> str:
    """``git add -A`` and ``git write-tree`` of ``worktree`` through a separate index."""
    env = {
        **os.environ,
        "GIT_DIR": str(git_dir),
        "GIT_WORK_TREE": str(worktree),
        "GIT_INDEX_FILE": str(index),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    subprocess.run(["git", "add", "-A"], env=env, check=True, cwd=worktree)
    out = subprocess.run(["git", "write-tree"], env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def wait_for_group_to_end(pgid: int, within: float = 20.0) -> None:
    """Wait until no process of the group ``pgid`` is left (orphaned git children included)."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"process group {pgid} still runs after {within}s")
        time.sleep(0.02)


def kill_point_reached(store_dir: Path, trigger: str, started: float) -> bool:
    """Whether a running capture has reached the moment the test kills it at.

    ``after-N`` is a plain delay; ``scratch-lock`` is git holding the scoped index's lock (in
    the middle of ``git add``); ``scratch-index`` is a finished scoped index (staging done or
    seeded); ``ref`` is a new snapshot ref, before the index is promoted.
    """
    if trigger.startswith("after-"):
        return time.monotonic() - started >= float(trigger.removeprefix("after-"))
    scratch = store_dir / "snap" / "tmp"
    try:
        names = os.listdir(scratch)
    except FileNotFoundError:
        return False
    if trigger == "scratch-lock":
        return any(n.startswith("capture-index-") and n.endswith(".lock") for n in names)
    if trigger == "scratch-index":
        return any(n.startswith("capture-index-") and not n.endswith(".lock") for n in names)
    if trigger == "ref":
        refs = store_dir / "refs" / "snaps"
        return refs.is_dir() and bool(os.listdir(refs))
    raise AssertionError(trigger)


@pytest.mark.parametrize(
    ("trigger", "whole_group"),
    [
        ("after-0.4", True),
        ("scratch-lock", True),
        ("scratch-index", True),
        ("ref", True),
        ("scratch-lock", False),
    ],
    ids=lambda value: value if isinstance(value, str) else ("group" if value else "parent"),
)
def test_killed_capture_never_blocks_the_next_one(
    large_tree: tuple[Path, str], fast_tmp: Path, trigger: str, whole_group: bool
) -> None:
    """SIGKILL a CLI capture mid-way (with or without its git children): the next capture
    succeeds at once, holds the right tree, the killed one left no broken ref, and its scratch
    leftovers are gone after the next capture."""
    tree, expected = large_tree
    store_dir = Path(tempfile.mkdtemp(dir=fast_tmp)) / "store"
    SyncStore.open(tree, store=store_dir)  # the store exists: the kill lands in the capture
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "snapshot.cli",
            "-C",
            str(tree),
            "--store",
            str(store_dir),
            "capture",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started = time.monotonic()
    while process.poll() is None and not kill_point_reached(store_dir, trigger, started):
        time.sleep(0.001)
    if whole_group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    else:
        process.kill()
    process.wait()
    if whole_group:
        wait_for_group_to_end(process.pid)
    # Whatever the killed capture did, every ref it left resolves to a complete tree.
    for snapshot_id in snap_ids(store_dir):
        assert tree_of(store_dir, snapshot_id) == expected
    store = SyncStore.open(tree, store=store_dir, lock_timeout=10)
    began = time.monotonic()
    snapshot = store.capture()
    assert time.monotonic() - began < 10
    assert snapshot.tree == expected
    assert store.verify().ok
    if not whole_group:
        wait_for_group_to_end(process.pid)
        store.capture()
    scratch = store_dir / "snap" / "tmp"
    left = [name for name in os.listdir(scratch) if f"-{process.pid}-" in name]
    assert left == [], left
    assert store_git(store_dir, "fsck", "--no-dangling").returncode == 0


# ------------------------------------------------------------------------ cancelled captures


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3])
async def test_cancelled_capture_leaves_no_scratch_and_no_half_ref(
    large_tree: tuple[Path, str], fast_tmp: Path, delay: float
) -> None:
    """A capture cancelled mid-way removes its scoped index (and lock) before it returns, and
    leaves either no ref or a complete one; the next capture works."""
    tree, expected = large_tree
    store_dir = Path(tempfile.mkdtemp(dir=fast_tmp)) / "store"
    store = await Store.open(tree, store=store_dir)
    with anyio.move_on_after(delay):
        await store.capture()
    scratch = store_dir / "snap" / "tmp"
    assert os.listdir(scratch) == []
    for snapshot_id in snap_ids(store_dir):
        assert tree_of(store_dir, snapshot_id) == expected
    assert (await store.capture()).tree == expected


async def test_failed_capture_leaves_no_scratch(project: Path, store_dir: Path) -> None:
    """A capture that fails (its seed index is garbage) raises a SnapError and leaves no
    scratch file; the project is untouched."""
    store = await Store.open(project, store=store_dir)
    await store.capture()
    (store_dir / "index").write_bytes(b"DIRC this is not an index at all")
    before = fingerprint(project / ".git")
    with contextlib.suppress(SnapError):
        await store.capture()
    assert os.listdir(store_dir / "snap" / "tmp") == []
    assert fingerprint(project / ".git") == before
