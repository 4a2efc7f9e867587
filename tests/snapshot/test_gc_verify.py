"""gc removes snapshots by policy and prunes what nothing reaches; verify says what is wrong."""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

import pytest
from snaptools import Snap, assert_one_error_line, git, populate, snap_ids, store_git

import snapshot.ids
from snapshot import Store, SyncStore, UnknownSnapshot, parse_duration

pytestmark = pytest.mark.anyio

DAY = 24 * 3600.0


async def capture_series(store: Store, tree: Path, count: int, tag: str) -> list[str]:
    """``count`` captures, each with a file of unique content; ids oldest first."""
    made = []
    for number in range(count):
        populate(tree, {f"series/{tag}-{number}.txt": f"{tag} {number}\n".encode()})
        made.append((await store.capture(f"{tag} {number}")).id)
    return made


def object_exists(store_dir: Path, oid: str) -> bool:
    """Whether the store holds the object ``oid`` (``git cat-file -e``)."""
    return store_git(store_dir, "cat-file", "-e", oid, check=False).returncode == 0


async def test_keep_last_keeps_exactly_the_newest(plain: Path, store_dir: Path) -> None:
    """--keep-last N alone removes all but the N newest; the kept ones are complete."""
    store = await Store.open(plain, store=store_dir)
    made = await capture_series(store, plain, 5, "k")
    result = await store.gc(keep_last=2)
    assert set(result.removed) == set(made[:3])
    assert set(result.kept) == set(made[3:])
    assert [s.id for s in await store.list()] == [made[4], made[3]]
    assert sorted(snap_ids(store_dir)) == made[3:]
    assert await store.cat(made[3], "series/k-3.txt") == b"k 3\n"
    assert await store.cat(made[3], "notes.txt") == b"notes\n"
    assert (await store.verify()).ok
    assert (await store.gc(keep_last=2)).removed == ()


async def test_older_than_zero_removes_every_snapshot(plain: Path, store_dir: Path) -> None:
    """--older-than 0s alone removes them all."""
    store = await Store.open(plain, store=store_dir)
    made = await capture_series(store, plain, 3, "z")
    result = await store.gc(older_than=0)
    assert set(result.removed) == set(made)
    assert result.kept == ()
    assert await store.list() == []
    assert snap_ids(store_dir) == []
    with pytest.raises(UnknownSnapshot):
        await store.show("latest")
    assert (await store.verify()).ok


async def test_older_than_alone_and_with_keep_last(plain: Path, store_dir: Path) -> None:
    """--older-than alone removes what is older; with --keep-last, only what both would."""
    store = await Store.open(plain, store=store_dir)
    old = await capture_series(store, plain, 3, "old")
    time.sleep(1.3)
    new = await capture_series(store, plain, 2, "new")
    # keep-last 4 alone would remove old[0]; older-than 1s alone every old one: old[0] goes.
    first = await store.gc(keep_last=4, older_than=1)
    assert first.removed == (old[0],)
    # older-than 1s alone: the remaining old ones go, the new ones stay.
    second = await store.gc(older_than=1)
    assert set(second.removed) == set(old[1:])
    assert set(second.kept) == set(new)
    # keep-last 1 alone would remove new[0]; it is not older than 1s, so it stays.
    assert (await store.gc(keep_last=1, older_than=1)).removed == ()
    # Older than a day: nothing is, so nothing goes however small N is.
    assert (await store.gc(keep_last=0, older_than=DAY)).removed == ()
    assert {s.id for s in await store.list()} == set(new)


async def test_default_policy_is_older_than_seven_days(
    plain: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no rule, snapshots 8 days old go and 6 days old stay (the id clock is set back)."""
    store = await Store.open(plain, store=store_dir)
    now = time.time()
    made = {}
    for label, age in (("eight-days", 8 * DAY), ("six-days", 6 * DAY)):
        with monkeypatch.context() as patch:
            patch.setattr(snapshot.ids, "time", types.SimpleNamespace(time=lambda a=age: now - a))
            populate(plain, {"age.txt": label.encode()})
            made[label] = (await store.capture(label)).id
    made["now"] = (await store.capture("now")).id
    result = await store.gc()
    assert result.removed == (made["eight-days"],)
    assert set(result.kept) == {made["six-days"], made["now"]}


async def test_gc_prunes_objects_only_removed_snapshots_reached(
    plain: Path, store_dir: Path
) -> None:
    """A blob only a removed snapshot held is gone; blobs of kept snapshots all remain."""
    store = await Store.open(plain, store=store_dir)
    populate(plain, {"only-in-first.txt": b"content only the first snapshot holds\n"})
    first = await store.capture()
    unique = git("hash-object", "--stdin", input=b"content only the first snapshot holds\n")
    unique_oid = unique.decode().strip()
    assert object_exists(store_dir, unique_oid)
    (plain / "only-in-first.txt").unlink()
    populate(plain, {"later.txt": b"later\n"})
    second = await store.capture()
    result = await store.gc(keep_last=1)
    assert result.removed == (first.id,)
    assert not object_exists(store_dir, unique_oid)
    kept_blob = git("hash-object", "--stdin", input=b"later\n").decode().strip()
    assert object_exists(store_dir, kept_blob)
    assert await store.cat(second.id, "later.txt") == b"later\n"
    assert await store.cat(second.id, "notes.txt") == b"notes\n"
    assert store_git(store_dir, "fsck", "--strict", "--no-dangling").returncode == 0
    assert (await store.verify()).ok


def test_cli_gc_and_durations(plain: Path, store_dir: Path) -> None:
    """`snap gc` prints {removed, kept}; durations 0s, 90m, 12h, 7d parse; a bad one is usage."""
    assert [parse_duration(text) for text in ("0s", "90m", "12h", "7d")] == [
        0,
        90 * 60,
        12 * 3600,
        7 * DAY,
    ]
    snap = Snap(plain, store_dir)
    first = SyncStore.open(plain, store=store_dir).capture().id
    result = snap.json("gc", "--older-than", "90m", "--keep-last", "0")
    assert result == {"removed": [], "kept": [first]}
    assert snap.json("gc") == result
    assert snap.json("gc", "--older-than", "0s") == {"removed": [first], "kept": []}
    code, out, err = snap("gc", "--older-than", "7x")
    assert code == 2
    assert out == b""
    assert b"Traceback" not in err


# ------------------------------------------------------------------------ verify


async def test_verify_ok_on_a_good_store(project: Path, store_dir: Path) -> None:
    """A fresh store, and one after captures, restores and gc, verifies ok."""
    store = await Store.open(project, store=store_dir)
    assert (await store.verify()).ok
    first = await store.capture()
    populate(project, {"README.md": b"# changed\n"})
    await store.capture()
    await store.restore(first.id)
    await store.gc(keep_last=2)
    result = await store.verify()
    assert result.ok
    assert result.problems == ()


def test_verify_reports_a_missing_blob(plain: Path, store_dir: Path) -> None:
    """Delete one blob's object file: verify is not ok, names the object, CLI exits 1."""
    snap = Snap(plain, store_dir)
    created = snap.json("capture")
    assert snap.json("verify") == {"ok": True, "problems": []}
    oid = git("hash-object", plain / "notes.txt").decode().strip()
    loose = store_dir / "objects" / oid[:2] / oid[2:]
    assert loose.is_file()
    loose.chmod(0o644)
    loose.unlink()
    code, out, err = snap("--json", "verify")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert any(oid in problem for problem in report["problems"]), report
    assert_one_error_line(code, err)
    assert snap.ok("cat", created["id"], "tool") == b"#!/bin/sh\n"


def test_verify_reports_a_ref_to_a_missing_object(plain: Path, store_dir: Path) -> None:
    """A snapshot ref pointing at nothing is a problem verify names."""
    snap = Snap(plain, store_dir)
    created = snap.json("capture")
    bogus = "0123456789abcdef0123456789abcdef01234567"
    broken_id = created["id"][:-1] + ("z" if created["id"][-1] != "z" else "y")
    (store_dir / "refs" / "snaps" / broken_id).write_text(bogus + "\n")
    code, out, err = snap("verify")
    assert code == 1
    assert broken_id.encode() in out + err or bogus.encode() in out + err
    assert b"Traceback" not in err
