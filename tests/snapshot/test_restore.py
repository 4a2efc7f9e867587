"""restore and revert: the tree matches the snapshot, every change can be undone, nothing that
could not be brought back is touched, and nothing is ever written outside the tree."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from snaptools import Exec, Link, Snap, fingerprint, git, populate, snap_ids, tree_state

from snapshot import BadPath, Store

pytestmark = pytest.mark.anyio

EXTRA = {
    "x/exe": Exec(b"#!/bin/sh\necho exe\n"),
    "x/y/z.txt": b"z\n",
    "link2": Link("README.md"),
    "data.bin": b"small\n",
}


def make_changes(root: Path) -> None:
    """Every kind of change: edits, bits, links, files to folders and back, new and gone."""
    populate(root, {"README.md": b"# rewritten\n", "n.txt": b"new\n", "nd/deep/f.txt": b"f\n"})
    os.chmod(root / "x" / "exe", 0o644)
    (root / "link2").unlink()
    populate(root, {"link2": b"a file where a link was\n"})
    (root / "docs" / "link-to-readme").unlink()
    os.symlink("../src/main.py", root / "docs" / "link-to-readme")
    shutil.rmtree(root / "x" / "y")


def swap_files_and_folders(root: Path) -> None:
    """A file where the snapshot has a folder, and a folder where it has a file."""
    (root / "src" / "util" / "helpers.py").unlink()
    populate(root, {"src/util/helpers.py/inner.txt": b"a folder where a file was\n"})
    shutil.rmtree(root / "bin")
    populate(root, {"bin": b"a file where a folder was\n"})


@pytest.fixture
async def baseline(project: Path, store_dir: Path) -> tuple[Store, str, dict[bytes, tuple]]:
    """The project plus EXTRA, captured: (store, snapshot id, tree state at that moment)."""
    populate(project, EXTRA)
    store = await Store.open(project, store=store_dir, max_file_size=1000)
    snapshot = await store.capture("baseline")
    return store, snapshot.id, tree_state(project)


async def test_restore_matches_the_snapshot_and_can_be_undone(
    project: Path, baseline: tuple[Store, str, dict[bytes, tuple]]
) -> None:
    """Contents, exec bits and links come back; new files go; emptied folders go; undo works."""
    store, snapshot_id, state = baseline
    make_changes(project)
    changed = tree_state(project)
    result = await store.restore(snapshot_id)
    assert tree_state(project) == state
    assert not (project / "nd").exists()
    assert {"n.txt", "nd/deep/f.txt"} <= set(result.deleted)
    assert {"README.md", "x/y/z.txt", "link2"} <= set(result.written)
    assert result.kept == ()
    assert result.undo is not None and result.undo in snap_ids(store.path)
    undone = await store.restore(result.undo)
    assert tree_state(project) == changed
    assert undone.undo is not None
    await store.restore(snapshot_id)
    assert tree_state(project) == state


async def test_restore_swaps_files_and_folders_both_ways(
    project: Path, baseline: tuple[Store, str, dict[bytes, tuple]]
) -> None:
    """Snapshot has bin/run.sh and src/util/helpers.py; the tree a file `bin` and a folder
    `src/util/helpers.py/`: restore, its dry run, its undo and a revert all cope."""
    store, snapshot_id, state = baseline
    swap_files_and_folders(project)
    swapped = tree_state(project)
    dry = await store.restore(snapshot_id, dry_run=True)
    result = await store.restore(snapshot_id)
    assert tree_state(project) == state
    assert (sorted(dry.written), sorted(dry.deleted)) == (
        sorted(result.written),
        sorted(result.deleted),
    )
    assert {"bin/run.sh", "src/util/helpers.py"} <= set(result.written)
    assert {"bin", "src/util/helpers.py/inner.txt"} <= set(result.deleted)
    assert result.undo is not None
    await store.restore(result.undo)
    assert tree_state(project) == swapped
    await store.revert(snapshot_id, ["bin"])
    assert (project / "bin" / "run.sh").is_file()


async def test_restore_to_an_identical_tree_changes_nothing(
    project: Path, baseline: tuple[Store, str, dict[bytes, tuple]]
) -> None:
    """Restoring the snapshot the tree already matches writes and deletes nothing."""
    store, snapshot_id, _ = baseline
    before = fingerprint(project)
    result = await store.restore(snapshot_id)
    assert (result.written, result.deleted, result.kept) == ((), (), ())
    after = fingerprint(project)
    assert {k: v for k, v in after.items() if not k.startswith(b".git")} == {
        k: v for k, v in before.items() if not k.startswith(b".git")
    }


async def test_kept_files_are_never_deleted_or_overwritten(
    project: Path, baseline: tuple[Store, str, dict[bytes, tuple]]
) -> None:
    """What the pre-restore capture could not hold (too large, nested repository) is kept."""
    store, snapshot_id, _ = baseline
    # A new file over the limit, and a held file that came back too large to capture.
    populate(project, {"big.bin": b"B" * 5000})
    (project / "data.bin").unlink()
    await store.capture()
    populate(project, {"data.bin": b"D" * 5000})
    # A nested repository where the snapshot has plain files, and one where it has nothing.
    shutil.rmtree(project / "x")
    for nested in (project / "x", project / "vendor"):
        nested.mkdir()
        git("init", "--quiet", nested)
        populate(nested, {"own.txt": b"the nested repo's own file\n"})
        git("add", "-A", cwd=nested)
        git("commit", "--quiet", "-m", "nested", cwd=nested)
    nested_before = {p: fingerprint(project / p) for p in ("x", "vendor")}
    result = await store.restore(snapshot_id)
    kept = {item.path: item.reason for item in result.kept}
    assert {"big.bin", "data.bin"} <= set(kept)
    assert all(kept.values())
    assert "x" in kept or "x/exe" in kept or "x/y/z.txt" in kept
    assert "vendor" in kept
    assert (project / "big.bin").read_bytes() == b"B" * 5000
    assert (project / "data.bin").read_bytes() == b"D" * 5000
    assert {p: fingerprint(project / p) for p in ("x", "vendor")} == nested_before
    for path in [*result.written, *result.deleted]:
        assert not path.startswith(("x/", "vendor/")) and path not in ("big.bin", "data.bin")


async def test_dry_run_lists_exactly_what_restore_does_and_changes_nothing(
    project: Path, baseline: tuple[Store, str, dict[bytes, tuple]]
) -> None:
    """--dry-run's written/deleted/kept equal the real restore's; it touches no file or ref."""
    store, snapshot_id, state = baseline
    make_changes(project)
    populate(project, {"big.bin": b"B" * 5000})
    before = fingerprint(project)
    refs_before = snap_ids(store.path)
    dry = await store.restore(snapshot_id, dry_run=True)
    assert fingerprint(project) == before
    assert snap_ids(store.path) == refs_before
    assert dry.undo is None
    real = await store.restore(snapshot_id)
    assert sorted(dry.written) == sorted(real.written)
    assert sorted(dry.deleted) == sorted(real.deleted)
    assert sorted(dry.kept, key=lambda k: k.path) == sorted(real.kept, key=lambda k: k.path)
    assert [k.path for k in real.kept] == ["big.bin"]
    assert tree_state(project) == {**state, b"big.bin": ("file", False, b"B" * 5000)}


def test_cli_restore_and_revert_json(project: Path, store_dir: Path) -> None:
    """`snap restore` gives {undo, written, deleted, kept}; --dry-run the same lists, no undo."""
    snap = Snap(project, store_dir)
    first = snap.json("capture")["id"]
    populate(project, {"README.md": b"# edited\n", "extra.txt": b"e\n"})
    before = tree_state(project)
    dry = snap.json("restore", "--dry-run", first)
    assert tree_state(project) == before
    real = snap.json("restore", first)
    assert set(real) == {"undo", "written", "deleted", "kept"}
    assert real["undo"] in snap_ids(store_dir)
    assert (dry["written"], dry["deleted"], dry["kept"]) == (
        real["written"],
        real["deleted"],
        real["kept"],
    )
    assert real["written"] == ["README.md"]
    assert real["deleted"] == ["extra.txt"]
    populate(project, {"README.md": b"# edited again\n"})
    reverted = snap.json("revert", real["undo"], "extra.txt")
    assert {"undo", "written", "deleted"} <= set(reverted)
    assert reverted["written"] == ["extra.txt"]
    assert (project / "README.md").read_bytes() == b"# edited again\n"


async def test_revert_touches_only_the_named_paths(
    project: Path, baseline: tuple[Store, str, dict[bytes, tuple]]
) -> None:
    """Files and folders named are restored or deleted as the snapshot has them; nothing else."""
    store, snapshot_id, state = baseline
    make_changes(project)
    changed = tree_state(project)
    result = await store.revert(snapshot_id, ["README.md", "x", "nd", "n.txt"])
    now = tree_state(project)
    for path, entry in state.items():
        if path == b"README.md" or path.startswith((b"x/", b"x")):
            assert now.get(path) == entry, path
    assert b"nd" not in now and b"n.txt" not in now
    for path, entry in changed.items():
        if not path.startswith((b"README.md", b"x", b"nd", b"n.txt")):
            assert now.get(path) == entry, path
    assert set(result.deleted) == {"n.txt", "nd/deep/f.txt"}
    assert set(result.written) == {"README.md", "x/exe", "x/y/z.txt"}
    await store.restore(result.undo)
    assert tree_state(project) == changed


async def test_revert_by_absolute_path_and_bad_paths(
    project: Path, baseline: tuple[Store, str, dict[bytes, tuple]]
) -> None:
    """An absolute path inside the tree works; outside the tree or in neither side is an error."""
    store, snapshot_id, _ = baseline
    populate(project, {"README.md": b"# edited\n"})
    await store.revert(snapshot_id, [str(project / "README.md")])
    assert (project / "README.md").read_bytes() == b"# project\n"
    with pytest.raises(BadPath):
        await store.revert(snapshot_id, ["../outside.txt"])
    with pytest.raises(BadPath):
        await store.revert(snapshot_id, ["no/such/path"])
    with pytest.raises(BadPath):
        await store.revert(snapshot_id, [])


async def test_folders_holding_ignored_files_stay(
    project: Path, baseline: tuple[Store, str, dict[bytes, tuple]]
) -> None:
    """A new folder whose files go keeps existing when it also holds an ignored file."""
    store, snapshot_id, _ = baseline
    populate(project, {"newdir/a.txt": b"a\n", "newdir/trace.log": b"ignored\n"})
    await store.restore(snapshot_id)
    assert not (project / "newdir" / "a.txt").exists()
    assert (project / "newdir" / "trace.log").read_bytes() == b"ignored\n"


# ------------------------------------------------------------------------ symlink escapes


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the tree that a link in the tree will point at."""
    folder = tmp_path / "outside"
    populate(folder, {"o.txt": b"outside, must stay as it is\n"})
    return folder


async def test_restore_never_writes_through_a_link_to_outside(
    plain: Path, store_dir: Path, outside: Path
) -> None:
    """The tree has `d -> /outside`, the snapshot a real folder d/: outside stays untouched."""
    populate(plain, {"d/f.txt": b"f\n", "d/sub/g.txt": b"g\n", "e/inside.txt": b"e\n"})
    store = await Store.open(plain, store=store_dir)
    snapshot = await store.capture()
    state = tree_state(plain)
    shutil.rmtree(plain / "d")
    os.symlink(outside, plain / "d")
    before = fingerprint(outside)
    await store.restore(snapshot.id)
    assert fingerprint(outside) == before
    assert not (plain / "d").is_symlink()
    assert tree_state(plain) == state


async def test_restore_never_writes_through_an_uncaptured_link(
    project: Path, store_dir: Path, outside: Path
) -> None:
    """An ignored link to outside where the snapshot has a folder: kept, outside untouched."""
    populate(project, {"d/f.txt": b"f\n"})
    store = await Store.open(project, store=store_dir)
    snapshot = await store.capture()
    shutil.rmtree(project / "d")
    os.symlink(outside, project / "d")
    (project / ".git" / "info" / "exclude").write_bytes(b"/d\n")
    before = fingerprint(outside)
    result = await store.restore(snapshot.id)
    assert fingerprint(outside) == before
    assert (project / "d").is_symlink()
    assert any(item.path in ("d", "d/f.txt") for item in result.kept), result.kept
    dry = await store.restore(snapshot.id, dry_run=True)
    assert fingerprint(outside) == before
    assert any(item.path in ("d", "d/f.txt") for item in dry.kept)


async def test_revert_never_writes_through_a_link_to_outside(
    plain: Path, store_dir: Path, outside: Path
) -> None:
    """Reverting d/f.txt or d with `d -> /outside` in the tree leaves outside untouched."""
    populate(plain, {"d/f.txt": b"f\n"})
    store = await Store.open(plain, store=store_dir)
    snapshot = await store.capture()
    shutil.rmtree(plain / "d")
    os.symlink(outside, plain / "d")
    before = fingerprint(outside)
    await store.revert(snapshot.id, ["d/f.txt"])
    assert fingerprint(outside) == before
    assert not (outside / "f.txt").exists()
    await store.revert(snapshot.id, ["d"])
    assert fingerprint(outside) == before
    assert not (plain / "d").is_symlink()
    assert (plain / "d" / "f.txt").read_bytes() == b"f\n"


async def test_restore_never_writes_through_a_link_inside_the_tree(
    plain: Path, store_dir: Path
) -> None:
    """`a -> e` (a folder of the tree) where the snapshot has a/b/c.txt: e is left alone."""
    populate(plain, {"a/b/c.txt": b"c\n", "e/own.txt": b"e\n"})
    store = await Store.open(plain, store=store_dir)
    snapshot = await store.capture()
    state = tree_state(plain)
    shutil.rmtree(plain / "a")
    os.symlink("e", plain / "a")
    await store.restore(snapshot.id)
    assert tree_state(plain) == state
    assert sorted(os.listdir(plain / "e")) == ["own.txt"]


async def test_restore_does_not_follow_a_link_to_a_file_outside(
    plain: Path, store_dir: Path, outside: Path
) -> None:
    """`notes.txt -> /outside/o.txt` in the tree: restoring notes.txt replaces the link."""
    store = await Store.open(plain, store=store_dir)
    snapshot = await store.capture()
    (plain / "notes.txt").unlink()
    os.symlink(outside / "o.txt", plain / "notes.txt")
    before = fingerprint(outside)
    await store.revert(snapshot.id, ["notes.txt"])
    assert fingerprint(outside) == before
    assert not (plain / "notes.txt").is_symlink()
    assert (plain / "notes.txt").read_bytes() == b"notes\n"


async def test_a_refused_revert_captures_nothing(tmp_path: Path) -> None:
    """A revert of a path neither the snapshot nor the tree has fails before any undo capture."""
    root = tmp_path / "tree"
    populate(root, {"a.txt": b"a\n"})
    store = await Store.open(root, store=tmp_path / "store")
    first = await store.capture("first")
    with pytest.raises(BadPath, match="neither in the snapshot nor in the working tree"):
        await store.revert(first.id, ["no-such-file"])
    assert [s.id for s in await store.list()] == [first.id]
