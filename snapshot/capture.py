"""Capture a working tree into a Git tree through a scoped temporary index.

Each capture works on its own index file (a unique scratch path), seeded from a copy of the
last good capture's index so that unchanged files are not hashed again, and nothing the store
or anyone else left behind (a stale ``index.lock``) can block it. Which paths are taken follows
Git: ignore rules at every level, the project's ``info/exclude`` and ``core.excludesFile``;
files the project's Git tracks are taken even when ignored. New files over the size limit and
nested repositories are left out and reported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

import attrs

from snapshot.errors import GitFailed
from snapshot.git import StoreGit, project_tracked, project_tracked_ignored
from snapshot.layout import Layout
from snapshot.models import Skipped

DEFAULT_MAX_FILE_SIZE = 2 * 1024 * 1024


@attrs.frozen
class Project:
    """What the store knows of the project's own repository, if the tree is in one."""

    exclude_file: Path | None = None
    is_repo: bool = False


@attrs.frozen
class TreeCapture:
    """A captured tree, the paths left out of it, and the scoped index that holds it."""

    tree: str
    skipped: tuple[Skipped, ...]
    index: Path


async def capture_tree(
    git: StoreGit,
    layout: Layout,
    project: Project,
    *,
    max_file_size: int,
    index: Path,
    objects: Path | None = None,
    force_paths: Iterable[bytes] = (),
) -> TreeCapture:
    """Write the working tree's content into ``index`` (a fresh scratch path) and a tree.

    ``objects`` sends new objects to a quarantine folder instead of the store (for reads that
    must leave no trace); ``force_paths`` are taken whatever their size (files just restored).
    """
    mirror_project_excludes(layout, project)
    forced = list(force_paths)
    seeded = seed_index(layout.index, index)
    try:
        skipped = await _stage(git, project, index, objects, max_file_size, forced)
    except GitFailed:
        if not seeded:
            raise
        # The seed is only a cache: if git cannot use it (damaged), start from an empty one.
        index.unlink(missing_ok=True)
        skipped = await _stage(git, project, index, objects, max_file_size, forced)
    tree = (await git.out("write-tree", index=index, objects=objects)).decode().strip()
    return TreeCapture(tree=tree, skipped=skipped, index=index)


def seed_index(last: Path, scoped: Path) -> bool:
    """Start the scoped index as a copy of the last good one (stat data and all), or empty."""
    scoped.unlink(missing_ok=True)
    try:
        shutil.copy2(last, scoped)
    except FileNotFoundError:
        return False
    return True


def mirror_project_excludes(layout: Layout, project: Project) -> None:
    """Keep the store's ``info/exclude`` equal to the project's, and attributes neutral."""
    wanted = b""
    if project.exclude_file is not None:
        with contextlib.suppress(OSError):
            wanted = project.exclude_file.read_bytes()
    _write_if_changed(layout.exclude, wanted)


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


async def _stage(
    git: StoreGit,
    project: Project,
    index: Path,
    objects: Path | None,
    max_file_size: int,
    forced: list[bytes],
) -> tuple[Skipped, ...]:
    """Bring the scoped index up to date with the tree; return what was left out."""
    tracked_ignored = await project_tracked_ignored(git.worktree) if project.is_repo else []
    # A held file that an ignore rule now matches is let go, as the project's Git would
    # never have taken it, unless the project's Git tracks it.
    held_ignored = await git.out(
        "ls-files", "-z", "--cached", "--ignored", "--exclude-standard", index=index
    )
    dropped = set(filter(None, held_ignored.split(b"\0"))) - set(tracked_ignored)
    if dropped:
        await git.run(
            "update-index",
            "--force-remove",
            "-z",
            "--stdin",
            input=b"\0".join(sorted(dropped)) + b"\0",
            index=index,
        )
    # Files already held: modified and deleted ones (unchanged ones are not hashed again).
    await git.run("add", "--update", index=index, objects=objects)
    others = await git.out("ls-files", "-z", "--others", "--exclude-standard", index=index)
    worktree = git.worktree
    new_paths: list[bytes] = []
    too_large: list[tuple[bytes, int]] = []
    skipped: list[Skipped] = []
    for path in others.split(b"\0"):
        if not path:
            continue
        if path.endswith(b"/"):
            skipped.append(
                Skipped(os.fsdecode(path.rstrip(b"/")), "nested git repository (not captured)")
            )
            continue
        if _unstorable(path):
            skipped.append(Skipped(os.fsdecode(path), "a name Git cannot store in a tree"))
            continue
        try:
            info = os.lstat(os.path.join(os.fsencode(worktree), path))
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size > max_file_size:
            too_large.append((path, info.st_size))
        else:
            new_paths.append(path)
    if too_large:
        tracked = (
            await project_tracked(worktree, [path for path, _ in too_large])
            if project.is_repo
            else set()
        )
        for path, size in too_large:
            if path in tracked:
                new_paths.append(path)
            else:
                skipped.append(
                    Skipped(
                        os.fsdecode(path),
                        f"new file over the size limit ({size} > {max_file_size} bytes)",
                    )
                )
    new_paths += tracked_ignored
    new_paths += forced
    present = [p for p in dict.fromkeys(new_paths) if _is_file_or_link(_abs(worktree, p))]
    if present:
        # update-index takes exact paths; `git add` would match each as a pathspec, which
        # grows with the square of their number (minutes for 100k new files).
        await git.run(
            "update-index",
            "--add",
            "--remove",
            "--replace",
            "-z",
            "--stdin",
            input=b"\0".join(present) + b"\0",
            index=index,
            objects=objects,
        )
    return tuple(sorted(skipped, key=lambda item: os.fsencode(item.path)))


def _is_file_or_link(path: bytes) -> bool:
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _unstorable(path: bytes) -> bool:
    """Git refuses any path with a component spelled ``.git`` in any case."""
    return any(part.lower() == b".git" for part in path.split(b"/"))


def _abs(worktree: Path, path: bytes) -> bytes:
    return os.path.join(os.fsencode(worktree), path)
