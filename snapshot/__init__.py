"""snapshot: snapshots of a working tree kept in Git, outside the tree and its own ``.git``."""

from snapshot.capture import DEFAULT_MAX_FILE_SIZE
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
from snapshot.store import LATEST, WORKTREE, Store
from snapshot.sync import SyncStore

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
