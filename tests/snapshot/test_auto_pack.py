"""Writers pack the store's loose objects once there are many, so the store grows with the
changes captured, not by a file-system block per object."""

from __future__ import annotations

from pathlib import Path

import pytest
from snaptools import populate

import snapshot.store
from snapshot import Store

pytestmark = pytest.mark.anyio


def loose_count(store: Path) -> int:
    objects = store / "objects"
    return sum(
        len(list(folder.iterdir()))
        for folder in objects.iterdir()
        if len(folder.name) == 2 and folder.is_dir()
    )


async def test_a_capture_past_the_threshold_packs_loose_objects(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir)
    first = await store.capture()
    populate(project, {"src/main.py": b"print('changed')\n", "new/file.txt": b"new\n"})
    second = await store.capture()
    assert loose_count(store_dir) > 0  # under the threshold: left loose

    monkeypatch.setattr(snapshot.store, "AUTO_PACK_LOOSE", -1)
    populate(project, {"src/main.py": b"print('again')\n"})
    third = await store.capture()
    assert loose_count(store_dir) == 0
    assert list((store_dir / "objects" / "pack").glob("*.pack"))
    assert (await store.verify()).ok
    for snap, text in ((first, b"print('hello')\n"), (second, b"print('changed')\n")):
        assert await store.cat(snap.id, "src/main.py") == text
    assert await store.cat(third.id, "src/main.py") == b"print('again')\n"
