"""The project's own ``.git`` is never written, locked or captured: byte for byte untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from snaptools import fingerprint, git, populate, run_cli, store_git

from snapshot import Store

pytestmark = pytest.mark.anyio


async def exercise_every_operation(worktree: Path, store_dir: Path, *, cli: bool) -> None:
    """Capture, read, diff, restore, revert, gc and verify in-process, and with ``cli`` also
    through the CLI run from inside the tree."""
    store = await Store.open(worktree, store=store_dir)
    first = await store.capture("first")
    populate(worktree, {"new.txt": b"new\n", "README.md": b"# changed\n"})
    await store.diff()
    await store.changed()
    await store.cat(first.id, "README.md")
    await store.list()
    second = await store.capture("second")
    await store.diff(first.id, second.id)
    await store.restore(first.id, dry_run=True)
    await store.restore(first.id)
    await store.revert(second.id, ["new.txt"])
    await store.gc(keep_last=10)
    assert (await store.verify()).ok
    if not cli:
        return
    # The CLI, from a folder inside the tree and without -C: it must find the top by itself.
    inside = worktree / "src"
    for args in (
        ["capture"],
        ["diff", "--name-status"],
        ["restore", second.id],
        ["gc", "--keep-last", "2"],
    ):
        code, _, err = run_cli(["--store", str(store_dir), *args], cwd=inside)
        assert code == 0, (args, err)


@pytest.mark.parametrize("stale_lock", [False, True], ids=["clean", "stale-index-lock"])
async def test_project_git_dir_is_untouched_byte_for_byte(
    project: Path, store_dir: Path, stale_lock: bool
) -> None:
    """Every file and folder under .git keeps its bytes, mode and mtime; a stale lock stays.

    The stale-lock run also drives the CLI (without -C) from a folder of the project.
    """
    if stale_lock:
        (project / ".git" / "index.lock").write_bytes(b"stale lock of somebody else\n")
    before = fingerprint(project / ".git")
    await exercise_every_operation(project, store_dir, cli=stale_lock)
    after = fingerprint(project / ".git")
    assert after == before


async def test_project_git_dir_is_not_captured(project: Path, store_dir: Path) -> None:
    """No ``.git`` path appears in a snapshot, whatever the capture."""
    store = await Store.open(project, store=store_dir)
    snapshot = await store.capture()
    names = store_git(store_dir, "ls-tree", "-r", "--name-only", "-z", snapshot.tree).stdout
    paths = [p for p in names.split(b"\0") if p]
    assert b"README.md" in paths
    assert not [p for p in paths if p == b".git" or p.startswith(b".git/")]


async def test_project_still_works_after_snapshots(project: Path, store_dir: Path) -> None:
    """The project's git sees its history and status exactly as before."""
    status_before = git("status", "--porcelain=v1", "-z", cwd=project)
    head_before = git("rev-parse", "HEAD", cwd=project)
    store = await Store.open(project, store=store_dir)
    await store.capture()
    await store.diff()
    assert git("status", "--porcelain=v1", "-z", cwd=project) == status_before
    assert git("rev-parse", "HEAD", cwd=project) == head_before
    assert git("for-each-ref", cwd=project).count(b"\n") == 1


async def test_plain_folder_gets_no_git_dir(plain: Path, store_dir: Path) -> None:
    """A plain folder stays a plain folder: no .git appears in it."""
    await exercise_every_operation_plain(plain, store_dir)
    assert not (plain / ".git").exists()
    assert git("rev-parse", "--git-dir", cwd=plain, check=False) == b""


async def exercise_every_operation_plain(worktree: Path, store_dir: Path) -> None:
    """The in-process part of :func:`exercise_every_operation`, for a plain folder."""
    store = await Store.open(worktree, store=store_dir)
    first = await store.capture()
    populate(worktree, {"added.txt": b"x\n"})
    await store.diff()
    await store.restore(first.id)
    await store.gc(keep_last=1)


async def test_linked_worktree_is_captured_and_its_repository_untouched(
    project: Path, tmp_path: Path
) -> None:
    """A `git worktree add` checkout (its .git is a file): captured without that file, its
    tracked-but-ignored files included, and the main repository's .git untouched."""
    populate(project, {"tracked.log": b"tracked although ignored\n"})
    git("add", "--force", "tracked.log", cwd=project)
    git("commit", "--quiet", "-m", "tracked log", cwd=project)
    linked = tmp_path / "linked"
    git("worktree", "add", "--quiet", linked, cwd=project)
    populate(linked, {"new.txt": b"new\n", "ignored.log": b"ignored\n"})
    before = fingerprint(project / ".git")
    store = await Store.open(linked, store=tmp_path / "store")
    first = await store.capture()
    names = store_git(tmp_path / "store", "ls-tree", "-r", "--name-only", first.tree).stdout
    paths = set(names.decode().splitlines())
    assert {"new.txt", "tracked.log", "README.md"} <= paths
    assert ".git" not in paths and "ignored.log" not in paths
    populate(linked, {"README.md": b"# edited in the linked worktree\n"})
    await store.restore(first.id)
    assert (linked / "README.md").read_bytes() == b"# project\n"
    assert fingerprint(project / ".git") == before
