"""Where a store lives and what it holds on disk, and the scratch files of its operations."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path

#: Scratch files older than this are removed even when their owner's pid looks alive.
SCRATCH_MAX_AGE = 3600.0


def default_store_dir(worktree: Path) -> Path:
    """``${XDG_DATA_HOME:-~/.local/share}/snap/<name>-<hash of the tree's real path>``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    real = os.fsencode(os.path.realpath(worktree))
    digest = hashlib.sha256(real).hexdigest()[:16]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in worktree.name)[:40] or "root"
    return Path(base) / "snap" / f"{name}-{digest}"


class Layout:
    """The files of one store: a bare Git repository plus a ``snap/`` folder of its own."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self.own = git_dir / "snap"
        self.index = git_dir / "index"
        self.ignore_check = self.own / "ignore-check.json"
        self.pack_horizon = self.own / "pack-horizon"
        self.exclude = git_dir / "info" / "exclude"
        self.attributes = git_dir / "info" / "attributes"
        self.global_config = self.own / "global.gitconfig"
        self.lock = self.own / "lock"
        self.holder = self.own / "lock.holder"
        self.scratch = self.own / "tmp"
        self.worktree_record = self.own / "worktree"

    def mark_pack_horizon(self) -> None:
        """Loose objects older than now are not worth packing before ``gc`` (objects a first
        capture copied from the project: packing them would take seconds)."""
        self.pack_horizon.touch()
        os.utime(self.pack_horizon)

    def small_loose_estimate(self) -> int:
        """About how many small loose objects captures wrote: the count in 16 of the 256
        fan-out folders × 16 (a few folder reads, whatever the store's size)."""
        objects, horizon = self.git_dir / "objects", self._horizon()
        return 16 * sum(len(_small_in(objects / f"{n:02x}", horizon)) for n in range(0, 256, 16))

    def pack_count(self) -> int:
        """How many packs the store has."""
        try:
            return sum(
                name.endswith(".pack") for name in os.listdir(self.git_dir / "objects" / "pack")
            )
        except FileNotFoundError:
            return 0

    def small_loose_objects(self) -> list[str]:
        """The ids of every small loose object captures wrote (past the pack horizon)."""
        objects = self.git_dir / "objects"
        horizon = self._horizon()
        found = []
        for number in range(256):
            folder = f"{number:02x}"
            found += [folder + name for name in _small_in(objects / folder, horizon)]
        return found

    def _horizon(self) -> float:
        try:
            return self.pack_horizon.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def scratch_path(self, kind: str) -> Path:
        """A unique scratch path whose name records the pid that owns it."""
        return self.scratch / f"{kind}-{os.getpid()}-{secrets.token_hex(8)}"

    def clean_scratch(self) -> list[Path]:
        """Remove scratch files of processes that died (a killed capture's index and lock).

        Called by writers holding the store's lock. Every writer of the store holds that lock,
        so a ``packed-refs.lock`` found then was left by a killed one: that goes too.
        """
        removed = []
        packed_lock = self.git_dir / "packed-refs.lock"
        with contextlib.suppress(FileNotFoundError):
            packed_lock.unlink()
            removed.append(packed_lock)
        try:
            entries = list(self.scratch.iterdir())
        except FileNotFoundError:
            return removed
        now = time.time()
        for entry in entries:
            owner = _owner_pid(entry.name)
            try:
                age = now - entry.lstat().st_mtime
            except FileNotFoundError:
                continue
            if age < SCRATCH_MAX_AGE and (owner is None or _alive(owner)):
                continue
            remove_path(entry)
            removed.append(entry)
        return removed


#: Loose objects up to this size (compressed) are the ones worth packing: most of a small
#: object's file-system block is waste, while a large one packs slowly for little gain.
SMALL_OBJECT = 16 * 1024


def _small_in(folder: Path, after: float) -> list[str]:
    """The names of the small loose-object files in one fan-out folder, newer than ``after``."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    small = []
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            info = entry.stat(follow_symlinks=False)
            if len(entry.name) == 38 and info.st_size <= SMALL_OBJECT and info.st_mtime > after:
                small.append(entry.name)
    return small


def remove_path(path: Path) -> None:
    """Remove a scratch file or folder, whatever it is; a missing one is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


_SCRATCH_NAME = re.compile(r"-(\d+)-[0-9a-f]{16}(?:\.lock)?$")


def _owner_pid(name: str) -> int | None:
    match = _SCRATCH_NAME.search(name)
    return int(match.group(1)) if match else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
