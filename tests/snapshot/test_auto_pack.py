"""Writers pack the store's loose objects once there are many, so the store grows with the
changes captured, not by a file-system block per object."""

from __future__ import annotations

from pathlib import Path

import pytest
from snaptools import populate

import snapshot.store
from snapshot import Store

pytestmark = pytest.mark.anyio


def loose(store: Path) -> set[str]:
    objects = store / "objects"
    return {
        folder.name + item.name
        for folder in objects.iterdir()
        if len(folder.name) == 2 and folder.is_dir()
        for item in folder.iterdir()
    }


async def test_a_capture_past_the_threshold_packs_loose_objects(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir)
    first = await store.capture()
    copied = loose(store_dir)  # what the first capture copied from the project stays loose
    populate(project, {"src/main.py": b"print('changed')\n", "new/file.txt": b"new\n"})
    second = await store.capture()
    written = loose(store_dir) - copied
    assert written  # under the threshold: left loose

    monkeypatch.setattr(snapshot.store, "AUTO_PACK_LOOSE", -1)
    populate(project, {"src/main.py": b"print('again')\n"})
    third = await store.capture()
    assert loose(store_dir) <= copied
    assert list((store_dir / "objects" / "pack").glob("*.pack"))
    assert (await store.verify()).ok
    for snap, text in ((first, b"print('hello')\n"), (second, b"print('changed')\n")):
        assert await store.cat(snap.id, "src/main.py") == text
    assert await store.cat(third.id, "src/main.py") == b"print('again')\n"


async def test_small_packs_are_rolled_up(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir)
    await store.capture()
    packs = store_dir / "objects" / "pack"
    monkeypatch.setattr(snapshot.store, "AUTO_PACK_LOOSE", -1)
    counts = []
    for number in range(4):  # each capture packs what it wrote into a pack of its own
        populate(project, {"src/main.py": b"print(%d)\n" % number})
        await store.capture()
        counts.append(len(list(packs.glob("*.pack"))))
    assert counts == sorted(counts) and counts[-1] >= counts[0] + 3

    monkeypatch.setattr(snapshot.store, "AUTO_PACK_PACKS", 2)
    populate(project, {"src/main.py": b"print('rolled up')\n"})
    snapshot_after = await store.capture()
    assert len(list(packs.glob("*.pack"))) < counts[-1]
    assert (await store.verify()).ok
    assert await store.cat(snapshot_after.id, "src/main.py") == b"print('rolled up')\n"
