"""A first capture of a Git checkout starts from the project's index and borrows its objects.

The project's stat data lets unchanged files go unhashed, and what the snapshot needs is copied
into one pack of the store's own, so the snapshot stays whole whatever the project does next.
Marks that would hide changes (assume-unchanged, skip-worktree) are let go; submodules are
reported as nested repositories; anything git cannot use makes the capture start over empty.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
from snaptools import git, populate, store_git, tree_state

from snapshot import Store

pytestmark = pytest.mark.anyio


def settle(project: Path) -> None:
    """Age the files and refresh the project's index, so no entry of it is racily clean."""
    past = os.stat(project).st_mtime - 10
    for folder, dirs, files in os.walk(project):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            os.utime(os.path.join(folder, name), (past, past), follow_symlinks=False)
    git("update-index", "--really-refresh", cwd=project)


def loose_blobs(store: Path) -> list[str]:
    """The ids of the blobs the store holds as loose objects."""
    found = []
    objects = store / "objects"
    for folder in objects.iterdir():
        if len(folder.name) != 2:
            continue
        for item in folder.iterdir():
            oid = folder.name + item.name
            kind = store_git(store, "cat-file", "-t", oid).stdout.strip()
            if kind == b"blob":
                found.append(oid)
    return found


def packed_objects(store: Path) -> set[str]:
    """The ids of every object in the store's packs."""
    ids: set[str] = set()
    for idx in (store / "objects" / "pack").glob("*.idx"):
        out = git("show-index", input=idx.read_bytes())
        ids.update(line.split()[1].decode() for line in out.splitlines())
    return ids


async def test_first_capture_borrows_the_project_index_and_packs_its_objects(
    project: Path, tmp_path: Path
) -> None:
    git("gc", "--quiet", cwd=project)  # the project's objects are packed: they come as a pack
    settle(project)
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir)
    snapshot = await store.capture()
    assert snapshot.tree == git("rev-parse", "HEAD^{tree}", cwd=project).decode().strip()
    # Nothing was hashed into loose objects: every blob came over in the store's own pack.
    assert loose_blobs(store_dir) == []
    blobs = {
        line.split()[2].decode()
        for line in store_git(store_dir, "ls-tree", "-r", snapshot.tree).stdout.splitlines()
    }
    assert blobs <= packed_objects(store_dir)
    assert (await store.verify()).ok


async def test_first_capture_copies_loose_objects_rather_than_hashing(
    project: Path, tmp_path: Path
) -> None:
    """The project wrote this object at zlib level 9; the store's git (level 1) would write
    other bytes for it, so equal bytes show the file was copied, not hashed again."""
    text = b"".join(b"line %d of a file worth compressing well\n" % (n % 7) for n in range(400))
    populate(project, {"big.txt": text})
    git("-c", "core.looseCompression=9", "add", "big.txt", cwd=project)
    git("commit", "--quiet", "-m", "big", cwd=project)
    settle(project)
    blob = git("rev-parse", ":big.txt", cwd=project).decode().strip()
    theirs = (project / ".git" / "objects" / blob[:2] / blob[2:]).read_bytes()
    assert zlib.compress(b"blob %d\0" % len(text) + text, 1) != theirs
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir)
    snapshot = await store.capture()
    assert (store_dir / "objects" / blob[:2] / blob[2:]).read_bytes() == theirs
    assert await store.cat(snapshot.id, "big.txt") == text


async def test_snapshot_survives_the_project_rewriting_its_history(
    project: Path, tmp_path: Path
) -> None:
    populate(project, {"src/main.py": b"print('draft')\n"})
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "-m", "draft", cwd=project)
    settle(project)
    before = tree_state(project)
    store = await Store.open(project, store=tmp_path / "store")
    snapshot = await store.capture("with the draft")

    # The project drops the draft from its history and prunes every unreachable object.
    populate(project, {"src/main.py": b"print('final')\n"})
    git("commit", "--quiet", "--all", "--amend", "-m", "final", cwd=project)
    git("reflog", "expire", "--all", "--expire=now", cwd=project)
    git("gc", "--quiet", "--prune=now", cwd=project)
    draft_blob = git("hash-object", "--stdin", input=b"print('draft')\n").decode().strip()
    assert draft_blob not in git("rev-list", "--all", "--objects", cwd=project).decode()
    assert not (project / ".git" / "objects" / draft_blob[:2] / draft_blob[2:]).exists()

    assert (await store.verify()).ok
    await store.restore(snapshot.id)
    assert tree_state(project) == before


async def test_assume_unchanged_and_skip_worktree_marks_hide_nothing(
    project: Path, tmp_path: Path
) -> None:
    git("update-index", "--assume-unchanged", "README.md", cwd=project)
    git("update-index", "--skip-worktree", "src/main.py", cwd=project)
    populate(project, {"README.md": b"# changed behind git's back\n"})
    (project / "src/main.py").unlink()
    store = await Store.open(project, store=tmp_path / "store")
    snapshot = await store.capture()
    assert await store.cat(snapshot.id, "README.md") == b"# changed behind git's back\n"
    files = {
        line.split(b"\t")[1]
        for line in store_git(
            tmp_path / "store", "ls-tree", "-r", snapshot.tree
        ).stdout.splitlines()
    }
    assert b"src/main.py" not in files
    # The project's own marks are untouched.
    listing = git("ls-files", "-v", cwd=project).decode().splitlines()
    assert "h README.md" in listing
    assert "S src/main.py" in listing


async def test_a_submodule_in_the_project_index_is_reported_not_captured(
    project: Path, tmp_path: Path
) -> None:
    inner = project / "vendor" / "lib"
    inner.mkdir(parents=True)
    git("init", "--quiet", inner)
    populate(inner, {"lib.c": b"int x;\n"})
    git("add", "--all", cwd=inner)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "lib", cwd=inner)
    git("add", "vendor/lib", cwd=project)
    assert b"160000" in git("ls-files", "--stage", "vendor/lib", cwd=project)
    store = await Store.open(project, store=tmp_path / "store")
    snapshot = await store.capture()
    assert [s.path for s in snapshot.skipped] == ["vendor/lib"]
    listing = store_git(tmp_path / "store", "ls-tree", "-r", snapshot.tree).stdout
    assert b"vendor/lib" not in listing
    assert b"160000" not in listing


async def test_a_missing_project_object_makes_the_capture_hash_instead(
    project: Path, tmp_path: Path
) -> None:
    """As in a partial clone: the project's index names a blob its object store lacks."""
    populate(project, {"data.txt": b"only in the index\n"})
    git("add", "data.txt", cwd=project)
    blob = git("rev-parse", ":data.txt", cwd=project).decode().strip()
    (project / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    store = await Store.open(project, store=tmp_path / "store")
    snapshot = await store.capture()
    assert await store.cat(snapshot.id, "data.txt") == b"only in the index\n"
    assert (await store.verify()).ok


async def test_a_split_project_index_makes_the_capture_start_empty(
    project: Path, tmp_path: Path
) -> None:
    git("update-index", "--split-index", cwd=project)
    populate(project, {"new.txt": b"new\n"})
    store = await Store.open(project, store=tmp_path / "store")
    snapshot = await store.capture()
    assert await store.cat(snapshot.id, "new.txt") == b"new\n"
    assert await store.cat(snapshot.id, "README.md") == b"# project\n"


async def test_a_subfolder_of_a_checkout_does_not_borrow(project: Path, tmp_path: Path) -> None:
    """The project's index describes the repository's top, not a folder inside it."""
    store_dir = tmp_path / "store"
    store = await Store.open(project / "src", store=store_dir)
    snapshot = await store.capture()
    names = store_git(store_dir, "ls-tree", "-r", "--name-only", snapshot.tree).stdout.split()
    assert sorted(names) == [b"main.py", b"util/helpers.py"]
    assert os.listdir(store_dir / "objects" / "pack") == []
