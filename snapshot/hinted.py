"""Hinted captures: the previous snapshot's tree, with only the paths a caller names read again.

A caller that knows what it wrote (an agent's edit tool) names those paths. Each named path is
made exact, by the same rules as a full capture: a file as it is now, a folder with everything
under it, a path gone from disk removed. Every other path is carried from the previous snapshot
as it was. The cost grows with the paths named, not with the tree: no index is read, and the
tree is rewritten only along the named paths. A capture without hints reconciles everything.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import attrs
import pygit2

from snapshot.capture import left_out, list_others, over_limit
from snapshot.git import Project, StoreGit, project_tracked, project_tracked_ignored
from snapshot.models import Skipped, Snapshot
from snapshot.trees import EXECUTABLE, REGULAR, SYMLINK, Entry, edit_tree, lookup, subtree


@attrs.frozen
class HintedTree:
    """The tree a hinted capture wrote, and what it left out (carried and new)."""

    tree: str
    skipped: tuple[Skipped, ...]


async def hinted_tree(
    git: StoreGit,
    repo: pygit2.Repository,
    project: Project,
    previous: Snapshot,
    hints: Sequence[bytes],
    *,
    max_file_size: int,
    scratch_index: Path,
) -> HintedTree | None:
    """``previous``'s tree with every path in ``hints`` (relative, normalised) made exact,
    or None where only a full capture can say (a hint inside a nested repository that the
    previous snapshot holds files of).

    ``scratch_index`` is a path that does not exist: git lists the named paths against an
    empty index, so it reads no index at all.
    """
    root = os.fsencode(git.worktree)
    skipped: list[Skipped] = []
    # Git lists nothing for a path inside a nested repository: find those repositories here.
    for repo_folder in _repositories_around(root, hints):
        if subtree(repo, previous.tree, repo_folder):
            return None  # as below: only a full capture can say
        refused = left_out(repo_folder + b"/")
        assert refused is not None
        skipped.append(refused)
    listed = await list_others(git, scratch_index, hints)
    found: list[bytes] = []
    for path in listed:
        refused = left_out(path)
        if refused is None:
            found.append(path)
            continue
        if path.endswith(b"/") and subtree(repo, previous.tree, path.rstrip(b"/")):
            # A nested repository the previous snapshot holds files of: what Git takes
            # there depends on an index, so only a full capture can say.
            return None
        skipped.append(refused)
    # Ignored paths are left out, unless the project's own Git tracks them: ask only about
    # named folders and named files git did not list.
    unlisted = set(found)
    ask = [
        hint for hint in hints if hint not in unlisted and os.path.lexists(os.path.join(root, hint))
    ]
    if ask and project.is_repo:
        found += await project_tracked_ignored(git.worktree, ask)
    puts: dict[bytes, Entry] = {}
    large: list[tuple[bytes, int]] = []
    for path in dict.fromkeys(found):
        full = os.path.join(root, path)
        try:
            info = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            continue
        too_big = stat.S_ISREG(info.st_mode) and info.st_size > max_file_size
        if too_big and lookup(repo, previous.tree, path) is None:
            large.append((path, info.st_size))
            continue
        entry = _write_blob(repo, full, info)
        if entry is not None:
            puts[path] = entry
    if large:
        tracked = (
            await project_tracked(git.worktree, [p for p, _ in large]) if project.is_repo else set()
        )
        for path, size in large:
            if path in tracked:
                entry = _write_blob(
                    repo, os.path.join(root, path), os.lstat(os.path.join(root, path))
                )
                if entry is not None:
                    puts[path] = entry
            else:
                skipped.append(over_limit(path, size, max_file_size))
    tree = edit_tree(repo, previous.tree, hints, puts)
    carried = [s for s in previous.skipped if not _covered(os.fsencode(s.path), hints)]
    every = {os.fsencode(s.path): s for s in [*carried, *skipped]}
    return HintedTree(tree=tree, skipped=tuple(every[path] for path in sorted(every)))


def _write_blob(repo: pygit2.Repository, full: bytes, info: os.stat_result) -> Entry | None:
    """Store one file or link as a blob (streamed, never whole in memory); None if it is gone."""
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(full)
        except (FileNotFoundError, NotADirectoryError, OSError):
            return None
        return Entry(SYMLINK, str(repo.create_blob(target)))
    if not stat.S_ISREG(info.st_mode):
        return None
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, OSError):
        return None
    with os.fdopen(fd, "rb") as stream:
        oid = repo.create_blob_fromiobase(stream)
    return Entry(EXECUTABLE if info.st_mode & stat.S_IXUSR else REGULAR, str(oid))


def _repositories_around(root: bytes, hints: Sequence[bytes]) -> list[bytes]:
    """The nested repositories (folders holding a ``.git``) that hold a hinted path."""
    found = set()
    for hint in hints:
        parts = hint.split(b"/")
        for depth in range(1, len(parts)):
            folder = b"/".join(parts[:depth])
            if os.path.lexists(os.path.join(root, folder, b".git")):
                found.add(folder)
                break
    return sorted(found)


def _covered(path: bytes, hints: Sequence[bytes]) -> bool:
    return any(path == hint or path.startswith(hint + b"/") for hint in hints)
