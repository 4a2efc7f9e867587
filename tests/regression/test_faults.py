"""Faults: SIGKILL at random points, a full disk, contention, and a hostile Git environment.

Each test drives the real CLI (``python -m snapshot.cli``) as a child process and checks the
store's promises afterwards with the library: it verifies, every snapshot it lists restores
to exactly its content, a later capture works, and nothing is left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from snapshot import SyncStore
from snapshot.trees import flatten, open_repo

from ._support import (
    PROJECT_ROOT,
    File,
    Link,
    Node,
    child_env,
    fingerprint,
    fingerprint_changes,
    git,
    read_tree,
    snap,
    snap_argv,
    snap_json,
    tree_id,
    wait_for,
    write_node,
)

#: Kill runs per operation: 10 in CI, more under the long profile.
KILL_RUNS = 10 if settings.default.max_examples <= 25 else 30
FOLDERS, FILES_PER_FOLDER = 40, 50


# ------------------------------------------------------------------------------ helpers


def _content(rng: random.Random, salt: str) -> bytes:
    return "".join(f"{salt} line {i} {rng.random()}\n" for i in range(rng.randrange(1, 6))).encode()


def make_big_tree(root: Path, rng: random.Random) -> None:
    """A plain folder of a couple of thousand small files in nested folders."""
    for folder in range(FOLDERS):
        (root / f"d{folder:02}" / "sub").mkdir(parents=True)
        for number in range(FILES_PER_FOLDER):
            where = root / f"d{folder:02}" / ("sub" if number % 3 else "") / f"f{number:02}.txt"
            where.write_bytes(_content(rng, "base"))
    (root / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    os.symlink("d00/f00.txt", root / "link")


def mutate(root: Path, rng: random.Random, count: int) -> None:
    """Rewrite ``count`` files, add and delete a few, flip an executable bit."""
    files = sorted(p for p in root.rglob("*.txt") if p.is_file() and not p.is_symlink())
    for path in rng.sample(files, min(count, len(files))):
        path.write_bytes(_content(rng, f"edit {rng.random()}"))
    for _ in range(max(1, count // 20)):
        folder = root / f"d{rng.randrange(FOLDERS):02}"
        (folder / f"new-{rng.randrange(10**6)}.txt").write_bytes(_content(rng, "new"))
        victim = rng.choice(files)
        if victim.exists():
            victim.unlink()
    target = rng.choice(files)
    if target.exists():
        target.chmod(target.stat().st_mode ^ stat.S_IXUSR)


def snapshot_content(store_dir: Path, tree_hash: str) -> dict[bytes, Node]:
    """What a snapshot holds, read from the store with pygit2 (one process, no ``cat`` each)."""
    repo = open_repo(store_dir)
    content: dict[bytes, Node] = {}
    for path, entry in flatten(repo, tree_hash).items():
        data = repo[entry.oid].read_raw()
        content[path] = Link(data) if entry.mode == 0o120000 else File(data, entry.mode == 0o100755)
    return content


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from ``/proc``), deepest last."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                queue.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def wait_gone(pids: list[int], timeout: float = 60.0) -> None:
    """Wait for processes that are not ours (orphans of a killed CLI) to end."""
    assert wait_for(lambda: not any(_running(p) for p in pids), timeout), pids


class Killer:
    """Runs one CLI command and SIGKILLs it a chosen time after it took the store's lock."""

    def __init__(self, store_dir: Path) -> None:
        self.holder = store_dir / "snap" / "lock.holder"
        self.work = 0.5  # seconds of work under the lock: measured by the first run

    def run(self, argv: list[str], delay: float | None) -> tuple[bool, list[int], int | None]:
        """Start ``argv``; kill it ``delay`` s into its locked work (never, if None).

        Returns whether it was killed, the git processes it left running, and its status
        when it ended by itself.
        """
        proc = subprocess.Popen(
            argv, env=child_env(), cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            locked = wait_for(lambda: self.holder.exists() or proc.poll() is not None, 60, 0.001)
            assert locked
            started = time.monotonic()
            if delay is None:
                proc.wait(timeout=120)
            else:
                wait_for(lambda: proc.poll() is not None, delay, 0.001)
            if proc.poll() is not None:
                # It ended by itself: its work is shorter than thought; aim the next ones there.
                self.work = max(0.02, time.monotonic() - started)
            if proc.poll() is None:
                # Stopped first, so that it starts no child between the listing and the kill.
                proc.send_signal(signal.SIGSTOP)
                orphans = descendants(proc.pid)
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                return True, orphans, None
            assert proc.stderr is not None
            stderr = proc.stderr.read()
            assert proc.returncode == 0, stderr
            return False, [], proc.returncode
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()

    def delays(self, runs: int, rng: random.Random) -> Iterator[float | None]:
        """None first (to measure), then delays spread over the measured work, jittered."""
        yield None
        for index in range(runs - 1):
            yield self.work * (index + rng.random()) / (runs - 1)


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, Path, SyncStore, random.Random]:
    """A big plain-folder tree, its store (with a first capture), and a seeded random source."""
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    tree = tmp_path / "tree"
    tree.mkdir()
    make_big_tree(tree, rng)
    store_dir = tmp_path / "store"
    store = SyncStore.open(tree, store=store_dir)
    store.capture("base")
    return tree, store_dir, store, rng


def _after_kill(store: SyncStore, tree: Path, store_dir: Path, orphans: list[int]) -> None:
    """What must hold after any kill: a capture works at once; the store verifies; no litter."""
    expected = tree_id(read_tree(tree))
    assert store.capture("right after the kill").tree == expected
    wait_gone(orphans)
    result = store.verify()
    assert result.ok, result.problems
    assert store.capture("once the orphans are gone").tree == expected
    left = os.listdir(store_dir / "snap" / "tmp")
    assert left == [], f"scratch files left after the next capture: {left}"


def _every_snapshot_restores(store: SyncStore, tree: Path, store_dir: Path) -> None:
    """Restore one snapshot of each distinct tree in place; the tree is then exactly it."""
    rng = random.Random(0)
    seen: set[str] = set()
    for snapshot in store.list():
        if snapshot.tree in seen:
            continue
        seen.add(snapshot.tree)
        store.restore(snapshot.id)
        content = snapshot_content(store_dir, snapshot.tree)
        assert read_tree(tree) == content, snapshot.id
        for path in rng.sample(sorted(content), min(3, len(content))):
            node = content[path]
            assert store.cat(snapshot.id, path) == (
                node.target if isinstance(node, Link) else node.data
            )


# ------------------------------------------------------------------------------ SIGKILL


def test_sigkill_during_capture(big: tuple[Path, Path, SyncStore, random.Random]) -> None:
    """A capture killed anywhere leaves either no snapshot or a complete, correct one."""
    tree, store_dir, store, rng = big
    killer = Killer(store_dir)
    killed = 0
    for delay in killer.delays(KILL_RUNS, rng):
        mutate(tree, rng, rng.randrange(20, 300))
        expected = tree_id(read_tree(tree))
        before = {s.id for s in store.list()}
        was_killed, orphans, _ = killer.run(snap_argv(tree, store_dir, "capture"), delay)
        killed += was_killed
        wait_gone(orphans)
        new = [s for s in store.list() if s.id not in before]
        assert len(new) <= 1
        for snapshot in new:
            assert snapshot.tree == expected
        _after_kill(store, tree, store_dir, [])
    assert killed >= KILL_RUNS // 2, f"only {killed} of {KILL_RUNS} runs were killed mid-way"
    _every_snapshot_restores(store, tree, store_dir)


def _undo_of(
    tree: Path, store_dir: Path, before: set[str], what: str, *, cli: bool = False
) -> list[str]:
    """The undo snapshots a run left, newest first: via ``snap list --json`` or the library."""
    if cli:
        listed = snap_json(tree, store_dir, "list")
        assert isinstance(listed, list)
    else:
        listed = [
            {"id": s.id, "message": s.message} for s in SyncStore.open(tree, store=store_dir).list()
        ]
    return [
        item["id"]
        for item in listed
        if item["id"] not in before and (item["message"] or "").startswith(f"before {what}")
    ]


def _run_again(
    store: SyncStore, tree: Path, store_dir: Path, run: int, command: str, *args: str
) -> None:
    """Run an interrupted command again: through the CLI the first times, then the library."""
    if run < 3:
        again = snap(tree, store_dir, command, *args)
        assert again.returncode == 0, again.stderr
    elif command == "restore":
        store.restore(args[0])
    else:
        store.revert(args[0], [os.fsencode(p) for p in args[2:]])


def test_sigkill_during_restore(big: tuple[Path, Path, SyncStore, random.Random]) -> None:
    """A killed restore is completed by running it again, and undone by its undo snapshot."""
    tree, store_dir, store, rng = big
    first = store.list()[0]
    mutate(tree, rng, 300)
    second = store.capture("second")
    targets = [first, second]
    killer = Killer(store_dir)
    killed = 0
    for run, delay in enumerate(killer.delays(KILL_RUNS, rng)):
        if run % 3 == 2:
            mutate(tree, rng, 50)  # new files too: the restore must delete them
        current = read_tree(tree)
        target = targets[run % 2]
        if tree_id(current) == target.tree:
            target = targets[(run + 1) % 2]
        before = {s.id for s in store.list()}
        argv = snap_argv(tree, store_dir, "restore", target.id)
        was_killed, orphans, _ = killer.run(argv, delay)
        killed += was_killed
        wait_gone(orphans)
        undos = _undo_of(tree, store_dir, before, "restore", cli=run == 0)
        assert len(undos) <= 1, undos
        if undos:
            assert store.show(undos[0]).tree == tree_id(current)
        else:
            assert read_tree(tree) == current, "the tree changed before the undo was taken"
        assert store.verify().ok
        # Completed by running the same restore again (the CLI, then the library: the same).
        _run_again(store, tree, store_dir, run, "restore", target.id)
        assert read_tree(tree) == snapshot_content(store_dir, target.tree)
        assert os.listdir(store_dir / "snap" / "tmp") == []
        # Undone by the undo snapshot of the interrupted run (or its own, if none was taken).
        undo = undos[0] if undos else _undo_of(tree, store_dir, before, "restore")[-1]
        store.restore(undo)
        assert read_tree(tree) == current
    assert killed >= KILL_RUNS // 2, f"only {killed} of {KILL_RUNS} runs were killed mid-way"
    _every_snapshot_restores(store, tree, store_dir)


def test_sigkill_during_revert(big: tuple[Path, Path, SyncStore, random.Random]) -> None:
    """A killed revert is completed by running it again, and undone by its undo snapshot."""
    tree, store_dir, store, rng = big
    first = store.list()[0]
    mutate(tree, rng, 300)
    second = store.capture("second")
    killer = Killer(store_dir)
    killed = 0
    for run, delay in enumerate(killer.delays(KILL_RUNS, rng)):
        current = read_tree(tree)
        target = (first, second)[run % 2]
        if tree_id(current) == target.tree:
            target = (first, second)[(run + 1) % 2]
        scope = [*sorted(rng.sample([f"d{i:02}" for i in range(FOLDERS)], 15)), "run.sh"]
        before = {s.id for s in store.list()}
        argv = snap_argv(tree, store_dir, "revert", target.id, "--", *scope)
        was_killed, orphans, _ = killer.run(argv, delay)
        killed += was_killed
        wait_gone(orphans)
        undos = _undo_of(tree, store_dir, before, "revert", cli=run == 0)
        assert len(undos) <= 1, undos
        if undos:
            assert store.show(undos[0]).tree == tree_id(current)
        else:
            assert read_tree(tree) == current, "the tree changed before the undo was taken"
        assert store.verify().ok
        _run_again(store, tree, store_dir, run, "revert", target.id, "--", *scope)
        assert os.listdir(store_dir / "snap" / "tmp") == []
        wanted = snapshot_content(store_dir, target.tree)

        def covered(path: bytes, scope: list[str] = scope) -> bool:
            return any(
                path == os.fsencode(q) or path.startswith(os.fsencode(q) + b"/") for q in scope
            )

        expected = {p: n for p, n in current.items() if not covered(p)}
        expected |= {p: n for p, n in wanted.items() if covered(p)}
        assert read_tree(tree) == expected
        undo = undos[0] if undos else _undo_of(tree, store_dir, before, "revert")[-1]
        store.restore(undo)
        assert read_tree(tree) == current
        if run % 2:
            mutate(tree, rng, 50)
    assert killed >= KILL_RUNS // 2, f"only {killed} of {KILL_RUNS} runs were killed mid-way"
    _every_snapshot_restores(store, tree, store_dir)


def test_sigkill_during_gc(big: tuple[Path, Path, SyncStore, random.Random]) -> None:
    """A killed gc keeps what it keeps complete; captures right after and later gcs work."""
    tree, store_dir, store, rng = big
    killer = Killer(store_dir)
    killed = 0
    for delay in killer.delays(KILL_RUNS, rng):
        for _ in range(2):
            mutate(tree, rng, 60)
            store.capture("for gc")
        before = [s.id for s in store.list()]
        argv = snap_argv(tree, store_dir, "gc", "--keep-last", "3")
        was_killed, orphans, _ = killer.run(argv, delay)
        killed += was_killed
        # A capture at once: the killed gc's git children may still be pruning.
        mutate(tree, rng, 20)
        expected = tree_id(read_tree(tree))
        now = store.capture("right after the killed gc")
        assert now.tree == expected
        wait_gone(orphans)
        result = store.verify()
        assert result.ok, result.problems
        listed = [s.id for s in store.list()]
        assert set(before[:3]) <= set(listed), "gc removed one of the 3 newest snapshots"
        assert set(listed) <= set(before) | {now.id}
        assert now.id in listed
        assert snapshot_content(store_dir, now.tree) == read_tree(tree)
        # The next gc works, whatever the killed one left behind.
        store.gc(keep_last=3)
        _after_kill(store, tree, store_dir, [])
    assert killed >= KILL_RUNS // 2, f"only {killed} of {KILL_RUNS} runs were killed mid-way"
    _every_snapshot_restores(store, tree, store_dir)


def test_stale_packed_refs_lock_does_not_block_gc(tmp_path: Path) -> None:
    """What a gc killed inside ``git update-ref --stdin`` leaves: ``packed-refs.lock``.

    Writers are serialized by the store's own lock, so any Git lock file found in the store
    while holding it is stale: it must not block this or any later gc.
    """
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a").write_bytes(b"a\n")
    store_dir = tmp_path / "store"
    store = SyncStore.open(tree, store=store_dir)
    store.capture("one")
    (tree / "a").write_bytes(b"b\n")
    newest = store.capture("two")
    (store_dir / "packed-refs.lock").write_bytes(b"")
    result = snap(tree, store_dir, "--json", "gc", "--keep-last", "1")
    assert result.returncode == 0, result.stderr
    assert [s.id for s in store.list()] == [newest.id]


def _loose_junk(store_dir: Path, count: int) -> None:
    """Write ``count`` unreachable loose objects straight into the store (fast, no git)."""
    for number in range(count):
        data = b"junk %d %s" % (number, os.urandom(8).hex().encode())
        raw = b"blob %d\0" % len(data) + data
        name = hashlib.sha1(raw).hexdigest()
        folder = store_dir / "objects" / name[:2]
        folder.mkdir(exist_ok=True)
        (folder / name[2:]).write_bytes(zlib.compress(raw))


def test_a_killed_gc_leaves_nothing_pruning_behind(tmp_path: Path) -> None:
    """Found by the fault tests' reasoning, then reproduced: "a later capture works".

    ``snap gc`` runs ``git prune --expire=now`` as a child in a session of its own. When the
    CLI is SIGKILLed (or dies of SIGTERM or SIGHUP, which Python does not clean up after), the
    store's lock is released at once but the orphaned prune goes on deleting every loose
    object no ref reaches: the blobs a capture started right then has just written. The
    capture fails (``git write-tree: invalid object``) or, later, records a snapshot whose
    blobs are gone.
    """
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a").write_bytes(b"a\n")
    store_dir = tmp_path / "store"
    store = SyncStore.open(tree, store=store_dir)
    store.capture("first")
    _loose_junk(store_dir, 10_000)  # so that the prune takes a while
    gc = subprocess.Popen(
        snap_argv(tree, store_dir, "gc", "--keep-last", "5"),
        env=child_env(), cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    prune: list[int] = []

    def pruning() -> bool:
        for child in descendants(gc.pid):
            with contextlib.suppress(OSError):
                if b"prune" in Path(f"/proc/{child}/cmdline").read_bytes():
                    prune.append(child)
        return bool(prune) or gc.poll() is not None

    try:
        assert wait_for(pruning, 120, 0.002)
        assert prune, "the gc ended before its prune could be caught"
        gc.send_signal(signal.SIGSTOP)
        prune[:] = descendants(gc.pid)
        gc.send_signal(signal.SIGKILL)
    finally:
        gc.wait(timeout=60)
    for number in range(300):
        (tree / f"new{number}").write_bytes(b"new content %d\n" % number)
    try:
        snapshot = store.capture("right after the killed gc")
    finally:
        wait_gone(prune)
    result = store.verify()
    assert result.ok, result.problems[:5]
    assert snapshot_content(store_dir, snapshot.tree) == read_tree(tree)


# ------------------------------------------------------------------------------ disk full


def _one_error_line(result: subprocess.CompletedProcess[bytes]) -> None:
    lines = result.stderr.decode(errors="replace").splitlines()
    assert result.returncode == 1, (result.returncode, lines)
    assert len(lines) == 1 and lines[0].startswith("snap: error: "), lines
    assert "Traceback" not in lines[0]


def _small_tree(root: Path) -> dict[bytes, Node]:
    root.mkdir()
    for number in range(20):
        (root / f"f{number}").write_bytes(b"small file %d\n" % number)
    return read_tree(root)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(
            "cannot mount a tmpfs here (the RLIMIT_FSIZE test covers a full disk instead): "
            + done.stderr.decode(errors="replace").strip()
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_on_a_small_file_system(tmp_path: Path, tmpfs: Path) -> None:
    """The store on a full 2 MiB tmpfs: capture fails clearly; all intact; works once freed."""
    tree = tmp_path / "tree"
    original = _small_tree(tree)
    store_dir = tmpfs / "store"
    first = snap_json(tree, store_dir, "capture")
    assert isinstance(first, dict)
    (tree / "data.bin").write_bytes(os.urandom(300_000))
    on_disk = read_tree(tree)
    free = os.statvfs(tmpfs)
    filler = tmpfs / "filler"
    filler.write_bytes(b"\0" * max(0, free.f_bavail * free.f_frsize - 100_000))
    failed = snap(tree, store_dir, "capture")
    _one_error_line(failed)
    assert read_tree(tree) == on_disk
    filler.unlink()
    check = snap_json(tree, store_dir, "verify")
    assert check == {"ok": True, "problems": []}
    listed = snap_json(tree, store_dir, "list")
    assert [item["id"] for item in listed] == [first["id"]]  # type: ignore[index]
    assert snapshot_content(store_dir, first["tree"]) == original
    for path, node in list(original.items())[:3]:
        assert isinstance(node, File)
        cat = snap(tree, store_dir, "cat", first["id"], os.fsdecode(path))
        assert cat.returncode == 0 and cat.stdout == node.data
    second = snap_json(tree, store_dir, "capture")
    assert isinstance(second, dict)
    assert second["tree"] == tree_id(on_disk)
    assert snap_json(tree, store_dir, "verify") == {"ok": True, "problems": []}


def test_file_size_limit_reached(tmp_path: Path) -> None:
    """Writes fail (``ulimit -f``): capture fails clearly; all intact; works once lifted."""
    tree = tmp_path / "tree"
    original = _small_tree(tree)
    store_dir = tmp_path / "store"
    first = snap_json(tree, store_dir, "capture")
    assert isinstance(first, dict)
    (tree / "data.bin").write_bytes(os.urandom(400_000))
    on_disk = read_tree(tree)
    limited = subprocess.run(
        ["bash", "-c", 'ulimit -f 64 && exec "$@"', "bash", *snap_argv(tree, store_dir, "capture")],
        capture_output=True,
        env=child_env(),
        cwd=PROJECT_ROOT,
        check=False,
        timeout=120,
    )
    _one_error_line(limited)
    assert read_tree(tree) == on_disk
    assert snap_json(tree, store_dir, "verify") == {"ok": True, "problems": []}
    listed = snap_json(tree, store_dir, "list")
    assert [item["id"] for item in listed] == [first["id"]]  # type: ignore[index]
    path, node = next(iter(original.items()))
    assert isinstance(node, File)
    assert snap(tree, store_dir, "cat", first["id"], os.fsdecode(path)).stdout == node.data
    second = snap_json(tree, store_dir, "capture")
    assert isinstance(second, dict)
    assert second["tree"] == tree_id(on_disk)


# ------------------------------------------------------------------------------ contention

_WORKER = textwrap.dedent(
    """
    import json, random, sys
    from snapshot import SyncStore
    tree, store_dir, seed, *targets = sys.argv[1:]
    store = SyncStore.open(tree, store=store_dir, lock_timeout=120)
    rng = random.Random(int(seed))
    for step in range(25):
        op = rng.choice(["capture", "capture", "restore"])
        try:
            if op == "capture":
                done = store.capture(f"worker {seed} step {step}")
                record = {"op": op, "id": done.id, "tree": done.tree}
            else:
                done = store.restore(rng.choice(targets))
                record = {"op": op, "undo": done.undo}
        except Exception as exc:
            record = {"op": op, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(record), flush=True)
    """
)


def _state(number: int) -> dict[bytes, Node]:
    """One of a few distinct tree states (files, an executable, a link)."""
    nodes: dict[bytes, Node] = {b"common": File(b"same in every state\n")}
    for index in range(12):
        nodes[b"dir%d/file%d" % (index % 3, index)] = File(b"state %d file %d\n" % (number, index))
    nodes[b"tool"] = File(b"#!/bin/sh\n", exe=bool(number % 2))
    nodes[b"link"] = Link(b"common" if number % 2 else b"dir0/file0")
    nodes[b"only-in-%d" % number] = File(b"\0binary %d" % number)
    return nodes


def _set_state(root: Path, nodes: dict[bytes, Node]) -> None:
    for entry in os.listdir(root):
        full = root / entry
        if full.is_dir() and not full.is_symlink():
            subprocess.run(["rm", "-rf", str(full)], check=True)
        else:
            full.unlink()
    for path, node in nodes.items():
        os.makedirs(os.path.join(os.fsencode(root), os.path.dirname(path)), exist_ok=True)
        write_node(root, path, node)


def test_four_processes_capture_and_restore_at_once(tmp_path: Path) -> None:
    """4 processes × 25 captures and restores on one store: no corruption, all listed."""
    tree = tmp_path / "tree"
    tree.mkdir()
    store_dir = tmp_path / "store"
    store = SyncStore.open(tree, store=store_dir)
    known: dict[str, dict[bytes, Node]] = {}
    targets = []
    for number in range(4):
        nodes = _state(number)
        _set_state(tree, nodes)
        snapshot = store.capture(f"state {number}")
        assert snapshot.tree == tree_id(nodes)
        known[snapshot.tree] = nodes
        targets.append(snapshot.id)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tree), str(store_dir), str(seed), *targets],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
            cwd=PROJECT_ROOT,
        )
        for seed in range(4)
    ]
    records = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode(errors="replace")
        records += [json.loads(line) for line in out.splitlines()]
    assert len(records) == 100
    errors = [r for r in records if "error" in r]
    assert not errors, errors
    verified = store.verify()
    assert verified.ok, verified.problems
    listed = {s.id: s for s in store.list()}
    for record in records:
        if record["op"] == "capture":
            assert record["id"] in listed
            # Every capture saw a whole state, never a restore half done.
            assert record["tree"] in known, record
        else:
            assert listed[record["undo"]].tree in known, record
    assert tree_id(read_tree(tree)) in known
    assert len(listed) == 4 + 100


def test_lock_wait_is_bounded_and_names_the_holder(tmp_path: Path) -> None:
    """A writer that waits longer than ``--lock-timeout`` fails naming the holder; reads go on."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big").write_bytes(os.urandom(64 << 20))
    store_dir = tmp_path / "store"
    SyncStore.open(tree, store=store_dir)
    holder_file = store_dir / "snap" / "lock.holder"
    holder = subprocess.Popen(
        snap_argv(tree, store_dir, "capture", "--max-file-size", "1g"),
        env=child_env(),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: holder_file.exists() or holder.poll() is not None, 60, 0.005)
        assert holder.poll() is None, "the capture ended before the test could wait on it"
        started = time.monotonic()
        waiter_proc = subprocess.Popen(
            snap_argv(tree, store_dir, "--lock-timeout", "0.5", "capture"),
            env=child_env(), cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        reader = snap(tree, store_dir, "--lock-timeout", "0.1", "--json", "list")
        waiter_out, waiter_err = waiter_proc.communicate(timeout=60)
        waited = time.monotonic() - started
        still_holding = holder.poll() is None
    finally:
        _, holder_err = holder.communicate(timeout=120)
    waiter = subprocess.CompletedProcess(
        waiter_proc.args, waiter_proc.returncode, waiter_out, waiter_err
    )
    assert still_holding, "the holder finished too early for the test to mean anything"
    _one_error_line(waiter)
    message = waiter.stderr.decode()
    assert f"pid {holder.pid}" in message, message
    assert "capture" in message, message
    assert waited < 10, waited
    assert reader.returncode == 0 and json.loads(reader.stdout) == [], reader.stderr
    assert holder.returncode == 0, holder_err
    assert snap(tree, store_dir, "--lock-timeout", "0.5", "capture").returncode == 0


# ------------------------------------------------------------------------------ hostile environment

_MARK = 'printf "%s\\n" "$0" >> "{markers}/ran"'


def _hostile_home(home: Path, other: Path) -> Path:
    """A home whose Git config and attributes try every way to change bytes or write files."""
    markers = home / "markers"
    markers.mkdir()
    scripts = home / "bin"
    scripts.mkdir()

    def script(name: str, body: str) -> Path:
        path = scripts / name
        path.write_text("#!/bin/sh\n" + _MARK.format(markers=markers) + "\n" + body + "\n")
        path.chmod(0o755)
        return path

    evil = script("evil-filter", "sed s/a/EVIL/g")
    gpg = script("fake-gpg", "exit 1")
    monitor = script("fsmonitor", "exit 1")
    hooks = home / "hooks"
    hooks.mkdir()
    for name in ("pre-commit", "post-commit", "reference-transaction", "post-index-change"):
        hook = hooks / name
        hook.write_text("#!/bin/sh\n" + _MARK.format(markers=markers) + "\n")
        hook.chmod(0o755)
    templates = home / "templates" / "hooks"
    templates.mkdir(parents=True)
    (templates / "post-checkout").write_text((hooks / "pre-commit").read_text())
    (templates / "post-checkout").chmod(0o755)
    attributes = "* filter=evil text eol=crlf ident working-tree-encoding=UTF-16\n"
    (home / ".gitattributes").write_text(attributes)
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "attributes").write_text(attributes)
    (home / ".gitexcludes").write_text("*.secret\n")
    config = textwrap.dedent(
        f"""
        [core]
            autocrlf = true
            eol = crlf
            safecrlf = true
            fileMode = false
            symlinks = false
            ignoreCase = true
            trustctime = false
            checkStat = minimal
            hooksPath = {hooks}
            attributesFile = {home / ".gitattributes"}
            excludesFile = {home / ".gitexcludes"}
            fsmonitor = {monitor}
            untrackedCache = true
            splitIndex = true
            sparseCheckout = true
            logAllRefUpdates = always
        [filter "evil"]
            clean = {evil}
            smudge = {evil}
            required = true
        [commit]
            gpgsign = true
        [tag]
            gpgSign = true
        [gpg]
            program = {gpg}
        [user]
            signingkey = nobody
        [init]
            templateDir = {home / "templates"}
        [index]
            version = 4
        [gc]
            auto = 1
            autoDetach = false
        [feature]
            manyFiles = true
        [diff]
            external = {evil}
        [include]
            path = {home / ".gitconfig-extra"}
        """
    )
    (home / ".gitconfig").write_text(config)
    (home / ".gitconfig-extra").write_text("[core]\n\tpager = " + str(evil) + "\n")
    (home / ".config" / "git" / "config").write_text(config)
    return markers


def test_hostile_environment_and_config(tmp_path: Path, private_home: Path) -> None:
    """Inherited GIT_* variables, a global config with filters, autocrlf, signing and hooks.

    The bytes captured and restored stay exact, ``core.excludesFile`` is the one setting
    honoured, and nothing outside the store is written: not the home folder, not the other
    repository the variables point at, not the project's ``.git``.
    """
    home = private_home
    other = tmp_path / "other"
    other.mkdir()
    git("init", "-q", cwd=other)
    (other / "theirs.txt").write_bytes(b"the other repository\n")
    git("add", "theirs.txt", cwd=other)
    git("commit", "-q", "-m", "other", cwd=other)
    tree = tmp_path / "tree"
    tree.mkdir()
    git("init", "-q", cwd=tree)
    contents = {
        b"lf.txt": File(b"a line\nanother a\n"),
        b"crlf.txt": File(b"a line\r\nanother\r\n"),
        b"mixed.txt": File(b"a\r\nb\nc\r"),
        b"ident.c": File(b"/* $Id$ */\nint a;\n"),
        b"bom.txt": File(b"\xef\xbb\xbfa\n"),
        b"utf16.txt": File("aé\n".encode("utf-16")),
        b"binary.bin": File(b"\0\r\n\x1a" * 16),
        b"tool.sh": File(b"#!/bin/sh\necho a\n", exe=True),
        b"link": Link(b"lf.txt"),
        b".gitattributes": File(b"* text eol=crlf filter=evil ident\n"),
        b"sub/Case.txt": File(b"upper\n"),
        b"sub/case.txt": File(b"lower\n"),
    }
    for path, node in contents.items():
        os.makedirs(os.path.join(os.fsencode(tree), os.path.dirname(path)), exist_ok=True)
        write_node(tree, path, node)
    (tree / "x.secret").write_bytes(b"excluded by core.excludesFile\n")
    git("add", "lf.txt", cwd=tree)
    git("-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m",
        "project", cwd=tree)  # fmt: skip

    markers = _hostile_home(home, other)

    env = child_env(
        GIT_DIR=str(other / ".git"),
        GIT_WORK_TREE=str(other),
        GIT_INDEX_FILE=str(other / ".git" / "index"),
        GIT_OBJECT_DIRECTORY=str(other / ".git" / "objects"),
        GIT_ALTERNATE_OBJECT_DIRECTORIES=str(other / ".git" / "objects"),
        GIT_CONFIG_PARAMETERS="'core.autocrlf'='true' 'core.hooksPath'='"
        + str(home / "hooks")
        + "'",
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="filter.evil.clean",
        GIT_CONFIG_VALUE_0=str(home / "bin" / "evil-filter"),
        GIT_NAMESPACE="evil",
        GIT_CEILING_DIRECTORIES=str(tmp_path),
    )
    store_dir = home / ".local" / "share" / "snap" / "hostile-store"

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        result = snap(tree, store_dir, *args, env=env)
        assert result.returncode == 0, (args, result.stderr.decode(errors="replace"))
        return result

    run("capture", "-m", "create the store")
    watched: dict[str, Callable[[], dict[bytes, tuple[object, ...]]]] = {
        "home": lambda: fingerprint(home, exclude=[store_dir]),
        "other repository": lambda: fingerprint(other),
        "project .git": lambda: fingerprint(tree / ".git"),
    }
    before = {name: take() for name, take in watched.items()}

    first = json.loads(run("--json", "capture", "-m", "hostile").stdout)
    expected = {p: n for p, n in read_tree(tree).items() if p != b"x.secret"}
    assert first["tree"] == tree_id(expected), "captured bytes differ from the files"
    for path, node in expected.items():
        data = node.target if isinstance(node, Link) else node.data
        assert run("cat", first["id"], "--", os.fsdecode(path)).stdout == data, path
    # Without -C, from inside the tree: the tree is found from the folder, not from GIT_DIR.
    here = subprocess.run(
        [sys.executable, "-m", "snapshot.cli", "--store", str(store_dir), "--json", "capture"],
        cwd=tree / "sub", env=env, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert here.returncode == 0, here.stderr
    assert json.loads(here.stdout)["tree"] == tree_id(expected)
    # Change everything, then restore: the bytes come back exactly.
    for path, node in expected.items():
        if isinstance(node, File) and path != b".gitattributes":
            (tree / os.fsdecode(path)).write_bytes(b"changed a\n")
    (tree / "new.txt").write_bytes(b"new a\r\n")
    diff = json.loads(run("--json", "diff", first["id"]).stdout)
    assert {item["path"] for item in diff} >= {"lf.txt", "new.txt"}
    run("--json", "restore", first["id"])
    assert {p: n for p, n in read_tree(tree).items() if p != b"x.secret"} == expected
    (tree / "lf.txt").write_bytes(b"reverted a\n")
    run("--json", "revert", first["id"], "--", "lf.txt")
    assert (tree / "lf.txt").read_bytes() == b"a line\nanother a\n"
    run("--json", "gc", "--keep-last", "2")
    assert json.loads(run("--json", "verify").stdout)["ok"]

    after = {name: take() for name, take in watched.items()}
    for name in watched:
        changes = fingerprint_changes(before[name], after[name])
        assert not changes, f"{name} was written: {changes}"
    assert not (markers / "ran").exists(), (markers / "ran").read_text()
