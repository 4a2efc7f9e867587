"""The store for callers without an event loop: the same methods, blocking."""

from __future__ import annotations

import builtins
import os
from collections.abc import Sequence
from functools import partial
from typing import Any

from procio import call_blocking
from snapshot.diffing import TreeDiff
from snapshot.models import GcResult, RestoreResult, RevertResult, Snapshot, VerifyResult
from snapshot.store import LATEST, WORKTREE, Store


class SyncStore:
    """A :class:`Store` driven by blocking calls; each call runs on a short-lived event loop."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    def open(cls, worktree: str | os.PathLike[str], **options: Any) -> SyncStore:
        """Open the store of ``worktree``; takes the options of :meth:`Store.open`."""
        return cls(call_blocking(partial(Store.open, worktree, **options)))

    @property
    def store(self) -> Store:
        """The async store underneath."""
        return self._store

    @property
    def path(self) -> os.PathLike[str]:
        """The store's folder."""
        return self._store.path

    def capture(self, message: str | None = None, **options: Any) -> Snapshot:
        return call_blocking(partial(self._store.capture, message, **options))

    def list(self) -> builtins.list[Snapshot]:
        return call_blocking(self._store.list)

    def show(self, ref: str) -> Snapshot:
        return call_blocking(partial(self._store.show, ref))

    def cat(self, ref: str, path: str | bytes) -> bytes:
        return call_blocking(partial(self._store.cat, ref, path))

    def diff(
        self,
        from_ref: str | None = LATEST,
        to_ref: str | None = WORKTREE,
        *,
        contents: bool = False,
    ) -> TreeDiff:
        return call_blocking(partial(self._store.diff, from_ref, to_ref, contents=contents))

    def changed(self, ref: str = LATEST) -> builtins.list[str]:
        return call_blocking(partial(self._store.changed, ref))

    def restore(self, ref: str, *, dry_run: bool = False) -> RestoreResult:
        return call_blocking(partial(self._store.restore, ref, dry_run=dry_run))

    def revert(
        self, ref: str, paths: Sequence[str | bytes], *, dry_run: bool = False
    ) -> RevertResult:
        return call_blocking(partial(self._store.revert, ref, paths, dry_run=dry_run))

    def gc(self, *, keep_last: int | None = None, older_than: float | None = None) -> GcResult:
        return call_blocking(partial(self._store.gc, keep_last=keep_last, older_than=older_than))

    def verify(self) -> VerifyResult:
        return call_blocking(self._store.verify)
