"""Make paths of the working tree match a snapshot, without ever writing outside the tree.

A restore is planned first (what to write, delete and keep) and then applied: the plan alone
is what ``--dry-run`` reports. Only what the pre-restore capture holds is ever deleted or
overwritten; anything else in the way (an ignored file, a new file over the size limit, a
nested repository) is kept and listed. Every file operation goes through directory file
descriptors opened with ``O_NOFOLLOW``, so a symbolic link in the tree is never written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs
import pygit2

from snapshot.errors import SnapError
from snapshot.models import Skipped
from snapshot.trees import EXECUTABLE, GITLINK, SYMLINK, Entry

IGNORED_REASON = "not captured (ignored by the tree's ignore rules)"


@attrs.frozen
class Plan:
    """What a restore will do: paths to write (with their entries), to delete, and kept."""

    writes: tuple[tuple[bytes, Entry], ...]
    deletes: tuple[bytes, ...]
    kept: tuple[Skipped, ...]


def make_plan(
    root: Path,
    current: dict[bytes, Entry],
    target: dict[bytes, Entry],
    skipped: Iterable[Skipped],
    in_scope: Callable[[bytes], bool] = lambda path: True,
) -> Plan:
    """Plan the change from ``current`` (the pre-restore capture) to ``target``."""
    skipped_by_path = {os.fsencode(item.path): item for item in skipped}
    deletes = sorted(path for path in current if path not in target and in_scope(path))
    deleting = set(deletes)
    kept: dict[bytes, Skipped] = {
        path: item
        for path, item in skipped_by_path.items()
        if in_scope(path) or _covers(path, in_scope)
    }
    base = os.fsencode(root)
    writes = []
    for path in sorted(target):
        entry = target[path]
        if not in_scope(path) or current.get(path) == entry or entry.mode == GITLINK:
            continue
        blocker = _blocker(base, path, current, deleting, skipped_by_path)
        if blocker is None:
            writes.append((path, entry))
        else:
            blocked_path, reason = blocker
            kept.setdefault(blocked_path, Skipped(os.fsdecode(blocked_path), reason))
    return Plan(
        writes=tuple(writes),
        deletes=tuple(deletes),
        kept=tuple(kept[path] for path in sorted(kept)),
    )


def _covers(path: bytes, in_scope: Callable[[bytes], bool]) -> bool:
    """True when a scope names a folder that holds ``path``."""
    parts = path.split(b"/")
    return any(in_scope(b"/".join(parts[:depth])) for depth in range(1, len(parts)))


def _blocker(
    base: bytes,
    path: bytes,
    current: dict[bytes, Entry],
    deleting: set[bytes],
    skipped: dict[bytes, Skipped],
) -> tuple[bytes, str] | None:
    """What uncaptured thing stands in the way of writing ``path``, if anything.

    Only real folders are looked into: below an entry the restore deletes (a link, say) or a
    folder that does not exist, nothing stands in the way, and nothing is looked through.
    """
    parts = path.split(b"/")
    for depth in range(1, len(parts)):
        parent = b"/".join(parts[:depth])
        if parent in skipped:
            return parent, skipped[parent].reason
        if parent in current:
            if parent in deleting:
                return None
            return parent, "a captured file stands where the snapshot has a folder"
        kind = _kind(os.path.join(base, parent))
        if kind is None:
            return None
        if kind != "dir":
            return parent, IGNORED_REASON
    if path in skipped:
        return path, skipped[path].reason
    if path in current:
        return None
    full = os.path.join(base, path)
    kind = _kind(full)
    if kind is None:
        return None
    if kind != "dir":
        return path, IGNORED_REASON
    prefix = path + b"/"
    if any(p.startswith(prefix) and p not in deleting for p in current):
        return path, "a folder with captured files stands where the snapshot has a file"
    for folder, dirs, files in os.walk(full):
        links = [name for name in dirs if os.path.islink(os.path.join(folder, name))]
        for name in files + links:
            relative = os.path.relpath(os.path.join(folder, name), base)
            if relative not in current:
                return relative, skipped.get(relative, Skipped("", IGNORED_REASON)).reason
    return None


def _kind(path: bytes) -> str | None:
    """``dir``, ``other`` or ``None`` (nothing there), never following a link."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return "dir" if stat.S_ISDIR(mode) else "other"


def apply_plan(root: Path, repo: pygit2.Repository, plan: Plan) -> None:
    """Carry a plan out: deletions first, then folders they emptied, then writes."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for path in plan.deletes:
            parent = _open_parent(root_fd, path, create=False)
            if parent is None:
                continue
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(_name(path), dir_fd=parent)
            finally:
                os.close(parent)
        _prune_empty(root_fd, plan.deletes)
        for path, entry in plan.writes:
            _write(root_fd, path, entry, repo[entry.oid].read_raw())
    finally:
        os.close(root_fd)


def _write(root_fd: int, path: bytes, entry: Entry, data: bytes) -> None:
    parent = _open_parent(root_fd, path, create=True)
    assert parent is not None
    name = _name(path)
    temp = b".snap-restore-" + secrets.token_hex(6).encode() + b".tmp"
    try:
        with contextlib.suppress(FileNotFoundError, OSError):
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                _remove_empty_tree(parent, name)
        if entry.mode == SYMLINK:
            os.symlink(data, temp, dir_fd=parent)
        else:
            mode = 0o777 if entry.mode == EXECUTABLE else 0o666
            fd = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=parent
            )
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=parent)
        raise SnapError(f"cannot write {os.fsdecode(path)!r}: {exc.strerror or exc}") from None
    finally:
        os.close(parent)


def _remove_empty_tree(parent: int, name: bytes) -> None:
    """Remove a folder that holds only empty folders (what a deletion left behind)."""
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    try:
        for child in os.listdir(fd):
            _remove_empty_tree(fd, os.fsencode(child))
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def _open_parent(root_fd: int, path: bytes, *, create: bool) -> int | None:
    """The folder holding ``path``, opened without following links; ``None`` if missing."""
    fd = os.dup(root_fd)
    for part in path.split(b"/")[:-1]:
        try:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                os.close(fd)
                return None
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                os.close(fd)
                raise SnapError(f"cannot create folder for {os.fsdecode(path)!r}: {exc}") from None
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                if not create:
                    return None
                raise SnapError(
                    f"refusing to write {os.fsdecode(path)!r}: a component of its folder is a "
                    "symbolic link or a file"
                ) from None
            raise
        os.close(fd)
        fd = child
    return fd


def _prune_empty(root_fd: int, deleted: Iterable[bytes]) -> None:
    """Remove folders left empty by the deletions, deepest first; never the root."""
    folders: set[bytes] = set()
    for path in deleted:
        parts = path.split(b"/")
        for depth in range(1, len(parts)):
            folders.add(b"/".join(parts[:depth]))
    for folder in sorted(folders, key=lambda p: p.count(b"/"), reverse=True):
        parent = _open_parent(root_fd, folder, create=False)
        if parent is None:
            continue
        try:
            os.rmdir(_name(folder), dir_fd=parent)
        except OSError:
            pass
        finally:
            os.close(parent)


def _name(path: bytes) -> bytes:
    return path.rsplit(b"/", 1)[-1]
