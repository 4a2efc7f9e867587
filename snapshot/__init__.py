"""snapshot: snapshots of a working tree kept in Git, outside the tree and its own ``.git``.

Names are imported on first use (PEP 562), so that importing a light part of the package
(``snap --help``) does not load the store and its libraries.
"""

from __future__ import annotations

import importlib

#: As ``typing.TYPE_CHECKING``, without importing ``typing`` (3 ms of ``snap --help``).
TYPE_CHECKING = False

#: Where each public name lives.
_HOMES = {
    "DEFAULT_MAX_FILE_SIZE": "snapshot.defaults",
    "LATEST": "snapshot.defaults",
    "WORKTREE": "snapshot.store",
    "AmbiguousSnapshot": "snapshot.errors",
    "BadPath": "snapshot.errors",
    "GitFailed": "snapshot.errors",
    "RefusedWorktree": "snapshot.errors",
    "SnapError": "snapshot.errors",
    "StoreBusy": "snapshot.errors",
    "UnknownSnapshot": "snapshot.errors",
    "FileChange": "snapshot.models",
    "GcResult": "snapshot.models",
    "RestoreResult": "snapshot.models",
    "RevertResult": "snapshot.models",
    "Skipped": "snapshot.models",
    "Snapshot": "snapshot.models",
    "VerifyResult": "snapshot.models",
    "TreeDiff": "snapshot.diffing",
    "parse_duration": "snapshot.retention",
    "Store": "snapshot.store",
    "SyncStore": "snapshot.sync",
}

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "LATEST",
    "WORKTREE",
    "AmbiguousSnapshot",
    "BadPath",
    "FileChange",
    "GcResult",
    "GitFailed",
    "RefusedWorktree",
    "RestoreResult",
    "RevertResult",
    "Skipped",
    "SnapError",
    "Snapshot",
    "Store",
    "StoreBusy",
    "SyncStore",
    "TreeDiff",
    "UnknownSnapshot",
    "VerifyResult",
    "parse_duration",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'snapshot' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


if TYPE_CHECKING:
    from snapshot.defaults import DEFAULT_MAX_FILE_SIZE, LATEST
    from snapshot.diffing import TreeDiff
    from snapshot.errors import (
        AmbiguousSnapshot,
        BadPath,
        GitFailed,
        RefusedWorktree,
        SnapError,
        StoreBusy,
        UnknownSnapshot,
    )
    from snapshot.models import (
        FileChange,
        GcResult,
        RestoreResult,
        RevertResult,
        Skipped,
        Snapshot,
        VerifyResult,
    )
    from snapshot.retention import parse_duration
    from snapshot.store import WORKTREE, Store
    from snapshot.sync import SyncStore
