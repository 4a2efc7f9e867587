"""SyncStore: the same store, the same answers as Store, for callers without an event loop."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
from snaptools import populate, tree_state

from snapshot import (
    GcResult,
    RestoreResult,
    RevertResult,
    Snapshot,
    Store,
    SyncStore,
    TreeDiff,
    VerifyResult,
)

T = TypeVar("T")


def run(call: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine of the async store on a fresh event loop."""

    async def main() -> T:
        return await call()

    return anyio.run(main)


def test_sync_store_gives_the_same_results_as_store(project: Path, store_dir: Path) -> None:
    """Every method of SyncStore answers as Store's does on the same store and tree."""
    sync = SyncStore.open(project, store=store_dir, max_file_size=1000, lock_timeout=5)
    store: Store = run(lambda: Store.open(project, store=store_dir, max_file_size=1000))
    assert Path(sync.path) == store.path
    first = sync.capture("first")
    assert isinstance(first, Snapshot)
    populate(project, {"README.md": b"# second\n", "big.bin": b"B" * 2000})
    second = run(lambda: store.capture("second"))
    assert [s.path for s in second.skipped] == ["big.bin"]
    assert sync.list() == run(store.list)
    assert sync.show(first.id) == run(lambda: store.show(first.id))
    assert sync.show("latest") == second
    assert sync.cat(first.id, "README.md") == run(lambda: store.cat(first.id, "README.md"))
    diff = sync.diff(first.id, second.id, contents=True)
    assert isinstance(diff, TreeDiff)
    assert diff == run(lambda: store.diff(first.id, second.id, contents=True))
    populate(project, {"README.md": b"# third\n"})
    assert sync.diff() == run(store.diff)
    assert sync.changed(first.id) == run(lambda: store.changed(first.id)) == ["README.md"]
    dry = sync.restore(first.id, dry_run=True)
    assert dry == run(lambda: store.restore(first.id, dry_run=True))
    state = tree_state(project)
    restored = sync.restore(first.id)
    assert isinstance(restored, RestoreResult)
    assert (restored.written, restored.deleted, restored.kept) == (
        dry.written,
        dry.deleted,
        dry.kept,
    )
    sync.restore(restored.undo)
    assert tree_state(project) == state
    reverted = sync.revert(first.id, ["README.md"])
    assert isinstance(reverted, RevertResult)
    assert (project / "README.md").read_bytes() == b"# project\n"
    verified = sync.verify()
    assert isinstance(verified, VerifyResult)
    assert verified == run(store.verify)
    collected = sync.gc(keep_last=2)
    assert isinstance(collected, GcResult)
    assert [s.id for s in sync.list()] == list(collected.kept)
    assert run(lambda: store.gc(keep_last=2)).removed == ()


def test_sync_store_from_another_thread(project: Path, store_dir: Path) -> None:
    """A worker thread without an event loop can use SyncStore as well."""
    results: dict[str, Any] = {}

    def work() -> None:
        store = SyncStore.open(project, store=store_dir)
        results["snapshot"] = store.capture()
        results["listed"] = store.list()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert results["listed"] == [results["snapshot"]]
