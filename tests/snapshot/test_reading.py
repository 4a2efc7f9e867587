"""Reading: list, show, cat, and diff in Git's formats, compared with git's own output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from snaptools import Exec, Link, Snap, git, populate, store_git, tree_state

from snapshot import BadPath, Store, SyncStore

pytestmark = pytest.mark.anyio

LONG = "".join(f"line {n}\n" for n in range(1, 61))
PYTHON = "class Thing:\n    def method(self):\n" + "".join(
    f"        value_{n} = {n}\n" for n in range(30)
)

BEFORE = {
    "modified.txt": LONG.encode(),
    "code.py": PYTHON.encode(),
    "deleted.txt": b"going away\n",
    "binary.bin": bytes(range(256)),
    "mode.sh": b"#!/bin/sh\n",
    "typechange": b"a file that becomes a link\n",
    "noeol.txt": b"no newline",
    "link": Link("modified.txt"),
    "dir/nested.txt": b"nested\n",
    "unchanged.txt": b"same\n",
}
AFTER = {
    "modified.txt": LONG.replace("line 5\n", "line five\n").replace("line 50\n", "").encode(),
    "code.py": PYTHON.replace("value_20 = 20", "value_20 = 'twenty'").encode(),
    "binary.bin": bytes(range(255, -1, -1)),
    "mode.sh": Exec(b"#!/bin/sh\n"),
    "typechange": Link("modified.txt"),
    "noeol.txt": b"no newline either",
    "link": Link("code.py"),
    "dir/nested.txt": b"nested\nmore\n",
    "unchanged.txt": b"same\n",
    "added.txt": b"brand new\n",
    "added.bin": b"\0\1\2\3",
}


@pytest.fixture
def two_snapshots(tmp_path: Path) -> tuple[Snap, str, str]:
    """A tree captured as BEFORE then as AFTER: (the CLI on it, first id, second id)."""
    tree = tmp_path / "tree"
    populate(tree, BEFORE)
    store = SyncStore.open(tree, store=tmp_path / "store")
    first = store.capture().id
    for name in BEFORE:
        if name not in AFTER:
            os.unlink(tree / name)
    populate(tree, AFTER)
    second = store.capture().id
    return Snap(tree, tmp_path / "store"), first, second


def reference_git(snap: Snap, tmp_path: Path) -> tuple[Path, str, str]:
    """A plain repository holding the store's snapshots (fetched), to ask git itself."""
    mirror = tmp_path / "mirror"
    git("init", "--quiet", mirror)
    git("fetch", "--quiet", snap.store, "refs/snaps/*:refs/snaps/*", cwd=mirror)
    names = sorted(git("for-each-ref", "--format=%(refname)", cwd=mirror).decode().split())
    return mirror, names[0], names[1]


# ------------------------------------------------------------------------ list, show, cat


async def test_list_show_and_cat(tmp_path: Path) -> None:
    """list is newest first; show returns the same record; cat gives exact bytes and targets."""
    tree = tmp_path / "tree"
    populate(tree, BEFORE)
    store = await Store.open(tree, store=tmp_path / "store")
    first = await store.capture("first")
    populate(tree, AFTER)
    second = await store.capture("second")
    listed = await store.list()
    assert [s.id for s in listed] == [second.id, first.id]
    assert listed == [second, first]
    assert await store.show(first.id) == first
    assert await store.show("latest") == second
    assert await store.cat(first.id, "binary.bin") == bytes(range(256))
    assert await store.cat(second.id, "binary.bin") == bytes(range(255, -1, -1))
    assert await store.cat(first.id, "noeol.txt") == b"no newline"
    assert await store.cat(second.id, "typechange") == b"modified.txt"
    assert await store.cat(second.id, "dir/nested.txt") == b"nested\nmore\n"
    with pytest.raises(BadPath):
        await store.cat(first.id, "added.txt")
    with pytest.raises(BadPath):
        await store.cat(first.id, "dir")
    with pytest.raises(BadPath):
        await store.cat(first.id, "../outside")


def test_cli_list_show_cat(two_snapshots: tuple[Snap, str, str]) -> None:
    """The CLI's list (newest first), show and cat agree with the library."""
    snap, first, second = two_snapshots
    listed = snap.json("list")
    assert [s["id"] for s in listed] == [second, first]
    for record in listed:
        assert set(record) >= {"id", "tree", "created_at", "message", "skipped"}
    assert snap.json("show", first) == listed[1]
    assert snap.ok("cat", first, "binary.bin") == bytes(range(256))
    assert snap.ok("cat", second, "added.bin") == b"\0\1\2\3"
    assert first in snap.ok("list").decode()


# ------------------------------------------------------------------------ diff formats


def test_patch_is_byte_for_byte_what_git_prints(
    two_snapshots: tuple[Snap, str, str], tmp_path: Path
) -> None:
    """`snap diff A B` equals `git diff --no-renames A B` on the same trees."""
    snap, first, second = two_snapshots
    mirror, ref_a, ref_b = reference_git(snap, tmp_path)
    expected = git("diff", "--no-renames", ref_a, ref_b, cwd=mirror)
    patch = snap.ok("diff", first, second)
    assert b"diff --git a/modified.txt b/modified.txt\n" in patch
    assert b"Binary files a/binary.bin and b/binary.bin differ\n" in patch
    assert patch == expected


def test_patch_with_a_space_in_a_name_is_what_git_prints(tmp_path: Path) -> None:
    """Git ends ``---``/``+++`` lines of names with a space with a tab; the patch matches."""
    tree = tmp_path / "tree"
    populate(tree, {"with space.txt": b"one\n"})
    store = SyncStore.open(tree, store=tmp_path / "store")
    first = store.capture().id
    populate(tree, {"with space.txt": b"two\n"})
    second = store.capture().id
    snap = Snap(tree, tmp_path / "store")
    mirror, ref_a, ref_b = reference_git(snap, tmp_path)
    assert snap.ok("diff", first, second) == git("diff", "--no-renames", ref_a, ref_b, cwd=mirror)


def test_text_patch_applies_with_git_apply(tmp_path: Path) -> None:
    """The patch is usable: `git apply` turns a copy of the first state into the second."""
    first_state = {"with space.txt": b"one\n", "gone.txt": b"g\n", "keep.txt": LONG.encode()}
    tree = tmp_path / "tree"
    populate(tree, first_state)
    store = SyncStore.open(tree, store=tmp_path / "store")
    first = store.capture().id
    (tree / "gone.txt").unlink()
    populate(tree, {"with space.txt": b"two\n", "new.txt": b"n\n"})
    populate(tree, {"keep.txt": LONG.replace("line 30", "line thirty").encode()})
    second = store.capture().id
    snap = Snap(tree, tmp_path / "store")
    work = tmp_path / "apply"
    populate(work, first_state)
    git("apply", "-", cwd=work, input=snap.ok("diff", first, second))
    assert tree_state(work) == tree_state(tree)


def test_name_status_is_what_git_prints(
    two_snapshots: tuple[Snap, str, str], tmp_path: Path
) -> None:
    """`--name-status` equals git's, T for the file that became a link; -z too."""
    snap, first, second = two_snapshots
    mirror, ref_a, ref_b = reference_git(snap, tmp_path)
    expected = git("diff", "--no-renames", "--name-status", ref_a, ref_b, cwd=mirror)
    out = snap.ok("diff", "--name-status", first, second)
    assert b"T\ttypechange\n" in out
    assert out == expected
    expected_z = git("diff", "--no-renames", "--name-status", "-z", ref_a, ref_b, cwd=mirror)
    assert snap.ok("diff", "--name-status", "-z", first, second) == expected_z


def test_name_status_quotes_like_git(tmp_path: Path) -> None:
    """Names with a tab, a newline, a quote or non-ASCII bytes are quoted as git quotes them
    by default; -z keeps the raw bytes."""
    tree = tmp_path / "tree"
    names = [b"tab\there", b"new\nline", b'quote"d', b"plain", b"caf\xc3\xa9", b"\xff\xfe"]
    populate(tree, {name: b"1\n" for name in names})
    store = SyncStore.open(tree, store=tmp_path / "store")
    first = store.capture().id
    populate(tree, {name: b"2\n" for name in names})
    second = store.capture().id
    snap = Snap(tree, tmp_path / "store")
    mirror, ref_a, ref_b = reference_git(snap, tmp_path)
    expected = git("diff", "--no-renames", "--name-status", ref_a, ref_b, cwd=mirror)
    assert snap.ok("diff", "--name-status", first, second) == expected
    expected_z = git("diff", "--no-renames", "--name-status", "-z", ref_a, ref_b, cwd=mirror)
    assert snap.ok("diff", "--name-status", "-z", first, second) == expected_z


def test_json_diff_matches_git_numstat(
    two_snapshots: tuple[Snap, str, str], tmp_path: Path
) -> None:
    """--json: {path, status, additions, deletions, binary}; counts as `git diff --numstat`."""
    snap, first, second = two_snapshots
    changes = snap.json("diff", first, second)
    by_path = {c["path"]: c for c in changes}
    for change in changes:
        assert set(change) == {"path", "status", "additions", "deletions", "binary"}
    assert {p: c["status"] for p, c in by_path.items()} == {
        "modified.txt": "modified",
        "code.py": "modified",
        "deleted.txt": "deleted",
        "binary.bin": "modified",
        "mode.sh": "modified",
        "typechange": "type-changed",
        "noeol.txt": "modified",
        "link": "modified",
        "dir/nested.txt": "modified",
        "added.txt": "added",
        "added.bin": "added",
    }
    mirror, ref_a, ref_b = reference_git(snap, tmp_path)
    numstat = git("diff", "--no-renames", "--numstat", "-z", ref_a, ref_b, cwd=mirror)
    records = [r for r in numstat.split(b"\0") if r]
    assert len(records) == len(changes)
    for record in records:
        added, deleted, path = record.decode().split("\t")
        change = by_path[path]
        if added == "-":
            assert change["binary"] is True, path
        else:
            assert change["binary"] is False, path
            if change["status"] != "type-changed":
                assert (change["additions"], change["deletions"]) == (int(added), int(deleted))


def test_json_diff_contents(two_snapshots: tuple[Snap, str, str]) -> None:
    """--contents adds before and after: text, or null for binary and absent sides."""
    snap, first, second = two_snapshots
    changes = {c["path"]: c for c in snap.json("diff", "--contents", first, second)}
    assert changes["dir/nested.txt"]["before"] == "nested\n"
    assert changes["dir/nested.txt"]["after"] == "nested\nmore\n"
    assert changes["added.txt"]["before"] is None
    assert changes["added.txt"]["after"] == "brand new\n"
    assert changes["deleted.txt"]["before"] == "going away\n"
    assert changes["deleted.txt"]["after"] is None
    assert changes["binary.bin"]["before"] is None
    assert changes["binary.bin"]["after"] is None
    assert changes["added.bin"]["after"] is None
    plain = snap.json("diff", first, second)
    assert all("before" not in c and "after" not in c for c in plain)


def test_stat_lists_every_path_and_git_summary(
    two_snapshots: tuple[Snap, str, str], tmp_path: Path
) -> None:
    """--stat: a line per changed path with its count, and git's summary line."""
    snap, first, second = two_snapshots
    mirror, ref_a, ref_b = reference_git(snap, tmp_path)
    expected = git("diff", "--no-renames", "--stat", ref_a, ref_b, cwd=mirror).decode()
    out = snap.ok("diff", "--stat", first, second).decode()
    assert out.splitlines()[-1] == expected.splitlines()[-1]
    lines = {line.split("|")[0].strip(): line.split("|")[1] for line in out.splitlines()[:-1]}
    assert set(lines) == {line.split("|")[0].strip() for line in expected.splitlines()[:-1]}
    assert lines["binary.bin"].strip().startswith("Bin")
    assert lines["dir/nested.txt"].split()[0] == "1"


async def test_diff_against_the_working_tree_and_changed(tmp_path: Path) -> None:
    """FROM defaults to latest, TO to the working tree; changed() lists the paths."""
    tree = tmp_path / "tree"
    populate(tree, BEFORE)
    store = await Store.open(tree, store=tmp_path / "store")
    first = await store.capture()
    assert (await store.diff()).changes == ()
    assert (await store.diff()).patch == b""
    assert await store.changed() == []
    (tree / "deleted.txt").unlink()
    populate(tree, {"added.txt": b"x\n", "dir/nested.txt": b"changed\n"})
    (tree / "typechange").unlink()
    os.symlink("modified.txt", tree / "typechange")
    expected = {
        "added.txt": "added",
        "deleted.txt": "deleted",
        "dir/nested.txt": "modified",
        "typechange": "type-changed",
    }
    diff = await store.diff()
    assert {c.path: c.status for c in diff.changes} == expected
    assert sorted(await store.changed()) == sorted(expected)
    assert sorted(await store.changed(first.id)) == sorted(expected)
    backwards = await store.diff(None, first.id)
    assert {c.path: c.status for c in backwards.changes}["added.txt"] == "deleted"
    assert b"diff --git a/added.txt b/added.txt\n" in diff.patch


async def test_reading_the_working_tree_leaves_nothing_in_the_store(tmp_path: Path) -> None:
    """A diff against the tree hashes new content into scratch space, not into the store."""
    tree = tmp_path / "tree"
    populate(tree, {"a.txt": b"a\n"})
    store_dir = tmp_path / "store"
    store = await Store.open(tree, store=store_dir)
    await store.capture()
    content = b"only ever diffed, never captured\n"
    populate(tree, {"b.txt": content})
    oid = git("hash-object", "--stdin", input=content).decode().strip()
    assert [c.path for c in (await store.diff()).changes] == ["b.txt"]
    assert store_git(store_dir, "cat-file", "-e", oid, check=False).returncode != 0
    assert len(await store.list()) == 1
    assert os.listdir(store_dir / "snap" / "tmp") == []


def test_cli_diff_defaults(tmp_path: Path) -> None:
    """`snap diff` is latest..worktree; `snap diff ID` is ID..worktree; `worktree` names it."""
    tree = tmp_path / "tree"
    populate(tree, {"a.txt": b"a\n"})
    store = SyncStore.open(tree, store=tmp_path / "store")
    first = store.capture().id
    populate(tree, {"a.txt": b"b\n"})
    store.capture()
    populate(tree, {"c.txt": b"c\n"})
    snap = Snap(tree, tmp_path / "store")
    assert [c["path"] for c in snap.json("diff")] == ["c.txt"]
    assert [c["path"] for c in snap.json("diff", first)] == ["a.txt", "c.txt"]
    assert [c["path"] for c in snap.json("diff", first, "worktree")] == ["a.txt", "c.txt"]
    assert [c["path"] for c in snap.json("diff", "latest", first)] == ["a.txt"]
    assert snap.ok("diff", "--name-only").split(b"\n") == [b"c.txt", b""]


def test_sync_store_diff_has_the_same_patch(two_snapshots: tuple[Snap, str, str]) -> None:
    """The library's TreeDiff carries the same patch and records the CLI prints."""
    snap, first, second = two_snapshots
    store = SyncStore.open(snap.worktree, store=snap.store)
    diff = store.diff(first, second)
    assert diff.patch == snap.ok("diff", first, second)
    assert [c.path for c in diff.changes] == [c["path"] for c in snap.json("diff", first, second)]
    assert json.loads(json.dumps([c.status for c in diff.changes]))
