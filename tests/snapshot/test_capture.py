"""Capture: immutable refs to Git's own trees, warm captures, ignore rules, size limit, nesting."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import re
import struct
import time
from pathlib import Path

import pygit2
import pytest
from snaptools import (
    Exec,
    Link,
    Snap,
    fingerprint,
    git,
    populate,
    reference_tree,
    run_cli,
    snap_ids,
    store_git,
    tree_of,
)

from snapshot import Skipped, Store

pytestmark = pytest.mark.anyio

VARIED_FILES = {
    "top.txt": b"top\n",
    "empty": b"",
    "binary.bin": bytes(range(256)) * 4,
    "crlf.txt": b"one\r\ntwo\r\n",
    "a/b/c/deep.txt": b"deep\n",
    "a/script.sh": Exec(b"#!/bin/sh\nexit 0\n"),
    "a/link": Link("b/c/deep.txt"),
    "dangling": Link("does/not/exist"),
    "absolute-link": Link("/etc/hostname"),
    "z/last": b"z\n",
}


def captured_paths(store_dir: Path, tree: str) -> set[str]:
    """Every file path in a captured tree, according to git."""
    out = store_git(store_dir, "ls-tree", "-r", "-z", "--name-only", tree).stdout
    return {os.fsdecode(p) for p in out.split(b"\0") if p}


def ls_tree(store_dir: Path, tree: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, type) for every entry of a captured tree, recursively."""
    out = store_git(store_dir, "ls-tree", "-r", "-z", tree).stdout
    entries = {}
    for record in out.split(b"\0"):
        if record:
            meta, path = record.split(b"\t", 1)
            mode, kind, _ = meta.decode().split()
            entries[os.fsdecode(path)] = (mode, kind)
    return entries


# ------------------------------------------------------------------------ refs and trees


async def test_snapshot_is_a_ref_that_peels_to_its_tree(project: Path, store_dir: Path) -> None:
    """refs/snaps/<id> exists in the store and peels to a tree object: the snapshot's tree."""
    store = await Store.open(project, store=store_dir)
    snapshot = await store.capture("hello")
    assert re.fullmatch(r"[0-9a-f]{40}", snapshot.tree)
    assert snap_ids(store_dir) == [snapshot.id]
    assert tree_of(store_dir, snapshot.id) == snapshot.tree
    kind = store_git(store_dir, "cat-file", "-t", snapshot.tree).stdout.strip()
    assert kind == b"tree"
    assert snapshot.message == "hello"
    now = dt.datetime.now(tz=dt.UTC)
    assert snapshot.created_at.tzinfo is not None
    assert abs((now - snapshot.created_at).total_seconds()) < 60
    assert await store.show(snapshot.id) == snapshot
    odd = await store.capture('multi\nline "quoted" ünïcode \\ message')
    assert (await store.show(odd.id)).message == 'multi\nline "quoted" ünïcode \\ message'
    assert (await store.capture()).message is None


async def test_refs_are_never_moved_or_overwritten(project: Path, store_dir: Path) -> None:
    """Once made, a snapshot ref keeps its target through captures, restores and reverts."""
    store = await Store.open(project, store=store_dir)
    first = await store.capture()

    def refs() -> dict[str, str]:
        out = store_git(store_dir, "for-each-ref", "--format=%(refname) %(objectname)").stdout
        return dict(line.split() for line in out.decode().splitlines())

    before = refs()
    populate(project, {"README.md": b"changed\n"})
    second = await store.capture()
    await store.capture()  # the same tree again: a new ref, not a moved one
    await store.restore(first.id)
    await store.revert(second.id, ["README.md"])
    after = refs()
    for name, target in before.items():
        assert after[name] == target
    assert tree_of(store_dir, first.id) == first.tree
    assert len(after) == 5


async def test_ids_are_unique_and_sort_in_creation_order(plain: Path, store_dir: Path) -> None:
    """Many quick captures: ids strictly increase as strings; list() gives them newest first."""
    store = await Store.open(plain, store=store_dir)
    made = []
    for number in range(15):
        if number % 3 == 0:
            populate(plain, {"counter": str(number).encode()})
        made.append((await store.capture()).id)
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert all(a < b for a, b in itertools.pairwise(made))
    listed = await store.list()
    assert [s.id for s in listed] == list(reversed(made))
    times = [s.created_at for s in reversed(listed)]
    assert times == sorted(times)
    assert sorted(snap_ids(store_dir)) == made


async def test_tree_is_what_git_write_tree_gives(tmp_path: Path) -> None:
    """The captured tree hash equals `git write-tree` in a plain repo holding the same files."""
    varied = tmp_path / "varied"
    populate(varied, VARIED_FILES)
    store = await Store.open(varied, store=tmp_path / "store")
    snapshot = await store.capture()
    assert snapshot.tree == reference_tree(tmp_path / "reference", VARIED_FILES)
    entries = ls_tree(tmp_path / "store", snapshot.tree)
    assert entries["a/script.sh"] == ("100755", "blob")
    assert entries["a/link"] == ("120000", "blob")
    assert entries["top.txt"] == ("100644", "blob")


async def test_project_tree_is_what_git_write_tree_gives(
    project: Path, store_dir: Path, tmp_path: Path
) -> None:
    """In a checkout: tracked, modified and untracked files as `git add -A; git write-tree`."""
    populate(project, {"untracked.txt": b"u\n", "README.md": b"# modified\n", "x.log": b"no\n"})
    (project / "src" / "main.py").unlink()
    store = await Store.open(project, store=store_dir)
    snapshot = await store.capture()
    # The same operation in a throwaway copy of the project's repository.
    copy = tmp_path / "copy"
    git("clone", "--quiet", project, copy)
    populate(copy, {"untracked.txt": b"u\n", "README.md": b"# modified\n", "x.log": b"no\n"})
    (copy / "src" / "main.py").unlink()
    git("add", "-A", cwd=copy)
    assert snapshot.tree == git("write-tree", cwd=copy).decode().strip()


# ------------------------------------------------------------------------ warm captures


def forge_index_entry(index: Path, path: bytes, oid: str) -> None:
    """Point ``path``'s entry in a version 2/3 index at ``oid``, keeping its stat data.

    Extensions are dropped (the cache-tree would otherwise let write-tree skip the entries)
    and the trailing checksum recomputed, so git accepts the file.
    """
    data = bytearray(index.read_bytes())
    assert data[:4] == b"DIRC"
    version, count = struct.unpack(">II", data[4:12])
    assert version in (2, 3), version
    position = 12
    found = False
    for _ in range(count):
        (flags,) = struct.unpack(">H", data[position + 60 : position + 62])
        name_start = position + 62 + (2 if version == 3 and flags & 0x4000 else 0)
        name_end = data.index(b"\0", name_start)
        if bytes(data[name_start:name_end]) == path:
            data[position + 40 : position + 60] = bytes.fromhex(oid)
            found = True
        position += (name_end - position + 8) & ~7
    assert found, path
    body = bytes(data[:position])
    index.write_bytes(body + hashlib.sha1(body).digest())


async def test_capture_promotes_its_index_with_stat_data(plain: Path, store_dir: Path) -> None:
    """After a capture the store's ``index`` lists every captured file with its stat data."""
    store = await Store.open(plain, store=store_dir)
    snapshot = await store.capture()
    index = pygit2.Index(str(store_dir / "index"))
    paths = {entry.path for entry in index}
    assert paths == captured_paths(store_dir, snapshot.tree)
    raw = (store_dir / "index").read_bytes()
    # Stat data (mtime seconds, size) of notes.txt sits in its entry: not zeroed as read-tree
    # would leave it.
    info = os.lstat(plain / "notes.txt")
    marker = raw.index(b"notes.txt\0")
    entry = raw[marker - 62 : marker]
    mtime_seconds, _ = struct.unpack(">II", entry[8:16])
    (size,) = struct.unpack(">I", entry[36:40])
    assert mtime_seconds == int(info.st_mtime)
    assert size == info.st_size
    # No scratch index is left behind.
    assert os.listdir(store_dir / "snap" / "tmp") == []


async def test_warm_capture_does_not_rehash_unchanged_files(plain: Path, store_dir: Path) -> None:
    """The second capture trusts the stat data carried from the first and hashes nothing again.

    Proof without timing: the promoted index is edited so that an unchanged file's entry (stat
    data intact) names another blob. A capture that re-hashed the file would give its real
    content; one that carries the stat data forward keeps the forged blob. A changed file next
    to it is still picked up.
    """
    past = time.time() - 3600
    for name in ("notes.txt", "data/values.csv"):
        os.utime(plain / name, (past, past))  # not racily clean: stat data alone decides
    store = await Store.open(plain, store=store_dir)
    first = await store.capture()
    oid = (
        git("--git-dir", store_dir, "hash-object", "-w", "--stdin", input=b"forged!\n")
        .decode()
        .strip()
    )
    forge_index_entry(store_dir / "index", b"notes.txt", oid)
    populate(plain, {"data/values.csv": b"a,b\n3,4\n"})
    second = await store.capture()
    assert await store.cat(second.id, "notes.txt") == b"forged!\n"
    assert await store.cat(second.id, "data/values.csv") == b"a,b\n3,4\n"
    assert await store.cat(first.id, "notes.txt") == b"notes\n"


async def test_unchanged_tree_gives_the_same_tree_again(project: Path, store_dir: Path) -> None:
    """Capturing an unchanged tree again gives the very same tree hash."""
    store = await Store.open(project, store=store_dir)
    trees = {(await store.capture()).tree for _ in range(3)}
    assert len(trees) == 1


async def test_quick_same_size_modifications_are_noticed(plain: Path, store_dir: Path) -> None:
    """Content changed right after a capture, same size, same second: still captured (racy git)."""
    store = await Store.open(plain, store=store_dir)
    for round_number in range(6):
        content = f"round {round_number}\n".encode()
        (plain / "notes.txt").write_bytes(content)
        snapshot = await store.capture()
        assert await store.cat(snapshot.id, "notes.txt") == content


async def test_every_kind_of_change_is_noticed(plain: Path, store_dir: Path) -> None:
    """Mode-only change, file to link, link target, deletion and a new folder all show up."""
    store = await Store.open(plain, store=store_dir)
    await store.capture()
    os.chmod(plain / "notes.txt", 0o755)
    (plain / "tool").unlink()
    os.symlink("notes.txt", plain / "tool")
    (plain / "data" / "values.csv").unlink()
    populate(plain, {"new/inner/file.txt": b"n\n"})
    snapshot = await store.capture()
    entries = ls_tree(store_dir, snapshot.tree)
    assert entries["notes.txt"][0] == "100755"
    assert entries["tool"][0] == "120000"
    assert await store.cat(snapshot.id, "tool") == b"notes.txt"
    assert "data/values.csv" not in entries
    assert "new/inner/file.txt" in entries
    os.unlink(plain / "tool")
    os.symlink("data", plain / "tool")
    again = await store.capture()
    assert await store.cat(again.id, "tool") == b"data"


# ------------------------------------------------------------------------ ignore rules


async def test_ignore_rules_are_honoured_as_git_does(
    project: Path, store_dir: Path, private_home: Path
) -> None:
    """.gitignore at several levels, info/exclude and core.excludesFile decide what is taken."""
    populate(
        project,
        {
            "src/.gitignore": b"generated.py\n!keep.log\n",
            "src/util/.gitignore": b"/local.txt\n",
            "app.log": b"ignored by the root .gitignore\n",
            "build/out.o": b"ignored folder\n",
            "src/generated.py": b"ignored by src/.gitignore\n",
            "src/keep.log": b"negated: taken\n",
            "src/util/local.txt": b"ignored, anchored\n",
            "src/local.txt": b"not ignored: the rule is anchored in util\n",
            "secret.txt": b"ignored by info/exclude\n",
            "scratch.tmp": b"ignored by core.excludesFile\n",
            "normal.txt": b"taken\n",
        },
    )
    (project / ".git" / "info").mkdir(exist_ok=True)
    (project / ".git" / "info" / "exclude").write_bytes(b"secret.txt\n")
    (private_home / "global-ignore").write_bytes(b"*.tmp\n")
    git("config", "--global", "core.excludesFile", "~/global-ignore", user_config=True)
    store = await Store.open(project, store=store_dir)
    snapshot = await store.capture()
    paths = captured_paths(store_dir, snapshot.tree)
    for taken in ("normal.txt", "src/keep.log", "src/local.txt", "src/.gitignore", "README.md"):
        assert taken in paths
    for ignored in (
        "app.log",
        "build/out.o",
        "src/generated.py",
        "src/util/local.txt",
        "secret.txt",
        "scratch.tmp",
    ):
        assert ignored not in paths
    # The same answer git itself gives with the user's own config.
    tracked = git("ls-files", "-z", cwd=project, user_config=True).split(b"\0")
    others = git(
        "ls-files", "-z", "--others", "--exclude-standard", cwd=project, user_config=True
    ).split(b"\0")
    assert paths == {os.fsdecode(p) for p in tracked + others if p}


async def test_xdg_git_ignore_is_the_default_excludes_file(
    plain: Path, store_dir: Path, private_home: Path
) -> None:
    """With no core.excludesFile set, $XDG_CONFIG_HOME/git/ignore applies, as in git."""
    populate(private_home / ".config" / "git", {"ignore": b"*.bak\n"})
    populate(plain, {"old.bak": b"ignored\n", ".gitignore": b"local-only/\n"})
    populate(plain, {"local-only/x": b"ignored folder in a plain tree\n"})
    store = await Store.open(plain, store=store_dir)
    snapshot = await store.capture()
    paths = captured_paths(store_dir, snapshot.tree)
    assert "old.bak" not in paths
    assert "local-only/x" not in paths
    assert {"notes.txt", ".gitignore", "tool"} <= paths


async def test_ignored_files_are_never_touched_by_restore_or_revert(
    project: Path, store_dir: Path
) -> None:
    """An ignored file keeps its bytes and mtime through restore and revert, and is not deleted."""
    populate(project, {"build/out.o": b"v1\n", "debug.log": b"log v1\n"})
    store = await Store.open(project, store=store_dir)
    first = await store.capture()
    populate(
        project,
        {"build/out.o": b"v2\n", "build/new.o": b"new\n", "README.md": b"# edited\n"},
    )
    populate(project, {"src/trace.log": b"ignored, in a folder restore touches\n"})
    ignored = ["build/out.o", "build/new.o", "debug.log", "src/trace.log"]
    before = {name: fingerprint(project / name) for name in ignored}
    result = await store.restore(first.id)
    assert (project / "README.md").read_bytes() == b"# project\n"
    assert {name: fingerprint(project / name) for name in ignored} == before
    assert not any(p.startswith(("build", "debug.log")) for p in result.deleted + result.written)
    await store.revert(first.id, ["src", "README.md"])
    assert {name: fingerprint(project / name) for name in ignored} == before


async def test_a_file_ignored_after_it_was_captured_is_left_alone(
    project: Path, store_dir: Path
) -> None:
    """A file captured once, then matched by a new ignore rule (the project's info/exclude,
    which no restore changes), is no longer captured and a restore neither deletes nor
    rewrites it: ignored files are never touched, and the project's git does not track it."""
    store = await Store.open(project, store=store_dir)
    first = await store.capture()
    populate(project, {"cache.dat": b"v1\n"})
    await store.capture()
    (project / ".git" / "info").mkdir(exist_ok=True)
    (project / ".git" / "info" / "exclude").write_bytes(b"cache.dat\n")
    populate(project, {"cache.dat": b"v2\n"})
    third = await store.capture()
    assert "cache.dat" not in captured_paths(store_dir, third.tree)
    assert "cache.dat" not in await store.changed(first.id)
    result = await store.restore(first.id)
    assert "cache.dat" not in result.deleted
    assert (project / "cache.dat").read_bytes() == b"v2\n"


async def test_tracked_files_are_captured_even_when_ignored(project: Path, store_dir: Path) -> None:
    """A file the project's git tracks although an ignore rule matches it is captured."""
    populate(project, {"kept.log": b"tracked log\n", "build/tracked.o": b"tracked object\n"})
    git("add", "--force", "kept.log", "build/tracked.o", cwd=project)
    git("commit", "--quiet", "-m", "track ignored files", cwd=project)
    populate(project, {"untracked.log": b"ignored and untracked\n"})
    store = await Store.open(project, store=store_dir)
    first = await store.capture()
    paths = captured_paths(store_dir, first.tree)
    assert {"kept.log", "build/tracked.o"} <= paths
    assert "untracked.log" not in paths
    populate(project, {"kept.log": b"tracked log, changed\n"})
    second = await store.capture()
    assert await store.cat(second.id, "kept.log") == b"tracked log, changed\n"


# ------------------------------------------------------------------------ size limit


async def test_new_files_over_the_limit_are_skipped_and_listed(
    plain: Path, store_dir: Path
) -> None:
    """Over the limit: skipped with a reason; at the limit: taken."""
    populate(
        plain,
        {"big.bin": b"x" * 1001, "sub/dir/huge.bin": b"y" * 5000, "exact.bin": b"z" * 1000},
    )
    store = await Store.open(plain, store=store_dir, max_file_size=1000)
    snapshot = await store.capture()
    paths = captured_paths(store_dir, snapshot.tree)
    assert "exact.bin" in paths
    assert "big.bin" not in paths
    assert "sub/dir/huge.bin" not in paths
    skipped = {item.path: item.reason for item in snapshot.skipped}
    assert set(skipped) == {"big.bin", "sub/dir/huge.bin"}
    assert all(reason for reason in skipped.values())
    assert "1001" in skipped["big.bin"] or "limit" in skipped["big.bin"]
    assert (await store.show(snapshot.id)).skipped == snapshot.skipped


async def test_the_limit_can_be_given_per_capture(plain: Path, store_dir: Path) -> None:
    """``capture(max_file_size=...)`` overrides the store's limit for that capture only."""
    populate(plain, {"mid.bin": b"m" * 3000, "small.bin": b"s" * 500})
    store = await Store.open(plain, store=store_dir, max_file_size=1000)
    strict = await store.capture(max_file_size=100)
    assert {s.path for s in strict.skipped} == {"mid.bin", "small.bin"}
    assert all(isinstance(s, Skipped) for s in strict.skipped)
    default = await store.capture()
    assert [s.path for s in default.skipped] == ["mid.bin"]
    generous = await store.capture(max_file_size=10_000)
    assert generous.skipped == ()
    assert await store.cat(generous.id, "mid.bin") == b"m" * 3000


async def test_default_limit_is_two_mebibytes(plain: Path, store_dir: Path) -> None:
    """By default a new file of 2 MiB is taken and one of 2 MiB + 1 byte is skipped."""
    populate(plain, {"at-limit.bin": b"a" * (2 * 1024 * 1024)})
    populate(plain, {"over-limit.bin": b"b" * (2 * 1024 * 1024 + 1)})
    store = await Store.open(plain, store=store_dir)
    snapshot = await store.capture()
    paths = captured_paths(store_dir, snapshot.tree)
    assert "at-limit.bin" in paths
    assert [s.path for s in snapshot.skipped] == ["over-limit.bin"]


async def test_a_held_file_stays_captured_after_growing_past_the_limit(
    plain: Path, store_dir: Path
) -> None:
    """A file an earlier snapshot holds is captured after it grows past the limit."""
    populate(plain, {"grows.txt": b"g" * 500})
    store = await Store.open(plain, store=store_dir, max_file_size=1000)
    await store.capture()
    grown = b"G" * 5000
    populate(plain, {"grows.txt": grown})
    snapshot = await store.capture()
    assert await store.cat(snapshot.id, "grows.txt") == grown
    assert snapshot.skipped == ()
    # Still held later, also through the CLI with its own limit.
    populate(plain, {"grows.txt": grown + b"more"})
    created = Snap(plain, store_dir).json("capture", "--max-file-size", "1000")
    assert created["skipped"] == []
    assert await store.cat(created["id"], "grows.txt") == grown + b"more"


def test_cli_lists_skipped_files_with_reasons(plain: Path, store_dir: Path) -> None:
    """``snap capture --max-file-size 1000 --json`` lists {path, reason} for what it skipped."""
    populate(plain, {"large file.bin": b"L" * 2000})
    created = Snap(plain, store_dir).json("capture", "--max-file-size", "1000")
    assert [item["path"] for item in created["skipped"]] == ["large file.bin"]
    assert set(created["skipped"][0]) == {"path", "reason"}
    assert created["skipped"][0]["reason"]


# ------------------------------------------------------------------------ nested repositories


async def test_nested_repository_is_reported_never_silently_lost(
    project: Path, store_dir: Path
) -> None:
    """A nested git repository is captured as files without .git, or listed as skipped."""
    nested = project / "vendor" / "lib"
    nested.mkdir(parents=True)
    git("init", "--quiet", nested)
    populate(nested, {"lib.c": b"int x;\n", "sub/more.c": b"int y;\n"})
    git("add", "-A", cwd=nested)
    git("commit", "--quiet", "-m", "nested", cwd=nested)
    bare_init = project / "fresh"
    bare_init.mkdir()
    git("init", "--quiet", bare_init)
    populate(bare_init, {"uncommitted.txt": b"u\n"})
    store = await Store.open(project, store=store_dir)
    snapshot = await store.capture()
    entries = ls_tree(store_dir, snapshot.tree)
    assert not [mode for mode, _ in entries.values() if mode == "160000"], "a gitlink loses data"
    assert not [p for p in entries if "/.git/" in p or p.endswith("/.git")]
    skipped = {item.path for item in snapshot.skipped}
    for folder, files in (("vendor/lib", ["lib.c", "sub/more.c"]), ("fresh", ["uncommitted.txt"])):
        as_files = all(f"{folder}/{name}" in entries for name in files)
        assert as_files or folder in skipped, (folder, entries, skipped)


# ------------------------------------------------------------------------ inherited GIT_*


async def test_inherited_git_variables_do_not_steer_the_capture(
    project: Path, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE and GIT_OBJECT_DIRECTORY pointing elsewhere
    change nothing in the capture, and nothing is written where they point."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git("init", "--quiet", elsewhere)
    populate(elsewhere, {"other.txt": b"other\n"})
    git("add", "-A", cwd=elsewhere)
    git("commit", "--quiet", "-m", "other", cwd=elsewhere)
    foreign_index = tmp_path / "foreign-index"
    before = fingerprint(elsewhere)
    expected = (await (await Store.open(project, store=tmp_path / "clean-store")).capture()).tree
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(elsewhere))
    monkeypatch.setenv("GIT_INDEX_FILE", str(foreign_index))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(elsewhere / ".git" / "objects"))
    store = await Store.open(project, store=store_dir)
    populate(project, {"README.md": b"# changed under hostile variables\n"})
    snapshot = await store.capture()
    assert await store.cat(snapshot.id, "README.md") == b"# changed under hostile variables\n"
    assert "other.txt" not in captured_paths(store_dir, snapshot.tree)
    assert [c.path for c in (await store.diff(snapshot.id, None)).changes] == []
    await store.restore(snapshot.id)
    populate(project, {"README.md": b"# project\n"})
    assert (await store.capture()).tree == expected
    # The CLI, run from inside the project without -C, inherits the same variables.
    code, out, err = run_cli(["--store", str(store_dir), "--json", "capture"], cwd=project / "src")
    assert code == 0, err
    assert json.loads(out)["tree"] == expected
    assert fingerprint(elsewhere) == before
    assert not foreign_index.exists()
