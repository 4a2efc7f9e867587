"""Any file name the file system allows round-trips: capture, cat, JSON, -z, restore, revert."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snaptools import Snap, populate, store_git, tree_state

from snapshot import Store, SyncStore

pytestmark = pytest.mark.anyio

HOSTILE_NAMES: tuple[bytes, ...] = (
    b"new\nline\tand tab",
    b"with space.txt",
    b"trailing space ",
    b"new\nline",
    b"tab\there",
    b"-leading",
    b"--double-dash",
    b"\xff\xfe not utf-8",
    b"caf\xc3\xa9",
    b":(exclude)x",
    b"x",
    b"*",
    b"?",
    b"[",
    b"[ab]",
    b'quote"d',
    b"back\\slash",
    b"dir with space/inner\nfile",
    b"-dir/-inner",
)


def content_of(name: bytes) -> bytes:
    """A distinct content per name."""
    return b"content of " + name + b"\n"


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Path:
    """A plain folder holding a file for every hostile name, and an ignored file as a control.

    If ``*`` or ``:(exclude)x`` were read as pathspec magic, the ignored file would be added
    (or ``x`` left out).
    """
    root = tmp_path / "names"
    populate(root, {name: content_of(name) for name in HOSTILE_NAMES})
    populate(root, {".gitignore": b"*.ignored\n", "control.ignored": b"must not be captured\n"})
    return root


def tree_paths(store_dir: Path, tree: str) -> set[bytes]:
    """Every file path of a captured tree, as raw bytes."""
    out = store_git(store_dir, "ls-tree", "-r", "-z", "--name-only", tree).stdout
    return {p for p in out.split(b"\0") if p}


async def test_hostile_names_round_trip_through_the_library(
    hostile_tree: Path, store_dir: Path
) -> None:
    """Captured exactly (no pathspec magic), readable by bytes or fsdecoded str, restorable."""
    store = await Store.open(hostile_tree, store=store_dir)
    snapshot = await store.capture()
    assert tree_paths(store_dir, snapshot.tree) == {*HOSTILE_NAMES, b".gitignore"}
    for name in HOSTILE_NAMES:
        assert await store.cat(snapshot.id, name) == content_of(name), name
        assert await store.cat(snapshot.id, os.fsdecode(name)) == content_of(name), name
    before = tree_state(hostile_tree)
    for name in HOSTILE_NAMES:
        (hostile_tree / os.fsdecode(name)).write_bytes(b"edited\n")
    diff = await store.diff(snapshot.id, None)
    assert {os.fsencode(c.path) for c in diff.changes} == set(HOSTILE_NAMES)
    assert {os.fsencode(p) for p in await store.changed(snapshot.id)} == set(HOSTILE_NAMES)
    for name in HOSTILE_NAMES:
        os.unlink(os.path.join(os.fsencode(hostile_tree), name))
    result = await store.restore(snapshot.id)
    assert {os.fsencode(p) for p in result.written} == set(HOSTILE_NAMES)
    assert tree_state(hostile_tree) == before
    # Revert only two of them: the others keep their edits.
    for name in HOSTILE_NAMES:
        (hostile_tree / os.fsdecode(name)).write_bytes(b"edited again\n")
    reverted = await store.revert(snapshot.id, [b"-leading", ":(exclude)x"])
    assert sorted(reverted.written) == sorted([":(exclude)x", "-leading"])
    assert (hostile_tree / "-leading").read_bytes() == content_of(b"-leading")
    assert (hostile_tree / ":(exclude)x").read_bytes() == content_of(b":(exclude)x")
    assert (hostile_tree / "x").read_bytes() == b"edited again\n"
    assert (hostile_tree / "*").read_bytes() == b"edited again\n"


def test_hostile_names_round_trip_through_the_cli(hostile_tree: Path, store_dir: Path) -> None:
    """cat with raw bytes arguments (after ``--``), JSON paths and -z records give exact names."""
    snap = Snap(hostile_tree, store_dir)
    created = {"id": SyncStore.open(hostile_tree, store=store_dir).capture().id}
    for name in (b"-leading", b"new\nline\tand tab", b"\xff\xfe not utf-8"):
        assert snap.ok("cat", created["id"], "--", name) == content_of(name), name
    for name in HOSTILE_NAMES:
        (hostile_tree / os.fsdecode(name)).write_bytes(b"edited\n")
    changes = snap.json("diff")
    assert {os.fsencode(c["path"]) for c in changes} == set(HOSTILE_NAMES)
    records = snap.ok("diff", "--name-status", "-z").split(b"\0")
    assert records[-1] == b""
    pairs = list(zip(records[:-1:2], records[1:-1:2], strict=True))
    assert {status for status, _ in pairs} == {b"M"}
    assert {path for _, path in pairs} == set(HOSTILE_NAMES)
    result = snap.json("revert", created["id"], "--", "-leading", "*")
    assert sorted(os.fsencode(p) for p in result["written"]) == [b"*", b"-leading"]
    assert (hostile_tree / "-leading").read_bytes() == content_of(b"-leading")
    assert (hostile_tree / "?").read_bytes() == b"edited\n"
    restored = snap.json("restore", created["id"])
    assert {os.fsencode(p) for p in restored["written"]} == set(HOSTILE_NAMES) - {
        b"-leading",
        b"*",
    }
    assert json.dumps(restored)  # plain JSON, nothing odd left in it


#: Names a path component can take (``.git`` in any case is covered on its own below).
NAME_BYTES = st.binary(min_size=1, max_size=12).filter(
    lambda name: (
        b"/" not in name and b"\0" not in name and name.lower() not in (b".", b"..", b".git")
    )
)


@settings(max_examples=8)
@given(names=st.lists(NAME_BYTES, min_size=1, max_size=6, unique=True))
def test_any_file_name_round_trips(tmp_path: Path, names: list[bytes]) -> None:
    """Property: whatever bytes make the names, capture -> cat -> restore gives them back."""
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    tree = root / "tree"
    populate(tree, {name: content_of(name) for name in names})

    async def scenario() -> None:
        store = await Store.open(tree, store=root / "store")
        snapshot = await store.capture()
        assert tree_paths(root / "store", snapshot.tree) == set(names)
        for name in names:
            assert await store.cat(snapshot.id, name) == content_of(name)
            os.unlink(os.path.join(os.fsencode(tree), name))
        await store.restore(snapshot.id)

    anyio.run(scenario)
    assert tree_state(tree) == {name: ("file", False, content_of(name)) for name in names}


async def test_names_git_cannot_store_are_reported_not_fatal(tmp_path: Path) -> None:
    """Files called ``.GIT``, ``.Git`` or a stray ``.git`` file are legal here but not in a Git
    tree: the capture still succeeds, case variants are listed in ``skipped``, and a file named
    exactly ``.git`` (which Git never lists, like any repository marker) is never touched."""
    root = tmp_path / "tree"
    populate(
        root,
        {
            "ok.txt": b"ok\n",
            ".GIT": b"upper-case dot git\n",
            "sub/.Git": b"mixed-case dot git\n",
            "stray/.git": b"not a repository, just a file called .git\n",
            "stray/file.txt": b"next to it\n",
        },
    )
    store = await Store.open(root, store=tmp_path / "store")
    snapshot = await store.capture()
    paths = tree_paths(tmp_path / "store", snapshot.tree)
    assert {b"ok.txt", b"stray/file.txt"} <= paths
    skipped = {os.fsencode(item.path) for item in snapshot.skipped}
    for name in (b".GIT", b"sub/.Git"):
        assert name in skipped, (name, paths, skipped)
    assert b"stray/.git" not in paths
    (root / "stray" / "file.txt").unlink()
    await store.restore(snapshot.id)
    assert (root / "stray" / "file.txt").read_bytes() == b"next to it\n"
    assert (root / "stray" / ".git").read_bytes() == b"not a repository, just a file called .git\n"
    assert (root / ".GIT").read_bytes() == b"upper-case dot git\n"
