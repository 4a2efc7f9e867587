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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import anyio.to_thread
import attrs

from snapshot import ignore_check
from snapshot.concurrent import gather
from snapshot.errors import GitFailed
from snapshot.git import (
    ARGS_PER_CALL,
    Project,
    StoreGit,
    project_tracked,
    project_tracked_ignored,
)
from snapshot.layout import Layout
from snapshot.models import Skipped

#: From this many new files on, they are written into one pack rather than a file each: a
#: first capture of 100k files takes a third of the time and a thirtieth of the disk.
BULK_PATHS = 512

#: Where a capture's scoped index started: the store's last index, the project's, or nothing.
Seed = Literal["store", "project", "empty"]


@attrs.frozen
class TreeCapture:
    """A captured tree, the paths left out of it, and the scoped index that holds it."""

    tree: str
    skipped: tuple[Skipped, ...]
    index: Path
    #: What the next capture may trust of this one's ignore answers (None: nothing).
    ignore_check: ignore_check.IgnoreCheck | None = None


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
    With no index of its own yet, the store starts from the project's index and borrows its
    objects, so a first capture of a Git checkout hashes only what differs from it.
    """
    mirror_project_excludes(layout, project)
    job = _Job(git, layout, project, index, objects, max_file_size, tuple(force_paths))
    borrowable = project.index if objects is None else None
    seed = seed_index(layout.index, index, borrowable)
    try:
        return await _capture(job, seed)
    except GitFailed:
        if seed == "empty":
            raise
        # The seed is only a cache: if git cannot use it (damaged, a split index), start over.
        index.unlink(missing_ok=True)
        return await _capture(job, "empty")


@attrs.frozen
class _Job:
    """What one capture works with."""

    git: StoreGit
    layout: Layout
    project: Project
    index: Path
    objects: Path | None
    max_file_size: int
    forced: tuple[bytes, ...]


async def _capture(job: _Job, seed: Seed) -> TreeCapture:
    git, index, objects = job.git, job.index, job.objects
    # The ignore answers of the last capture stand while nothing they depend on has changed.
    last = ignore_check.load(job.layout.ignore_check) if seed == "store" else None
    files = [job.layout.exclude, git.excludes_file, job.project.index]
    folders = last.folders if last is not None else frozenset()
    to_stamp = ignore_check.sources(git.worktree, folders, files)
    # Git reads the project's objects only to copy them: a command that writes objects would
    # "freshen" (touch) the project's copies, and the project's .git is never touched.
    borrow = job.project.objects if seed == "project" else None
    if borrow is not None:
        await _release_project_marks(git, index)
    staged = await _stage(job, last, to_stamp)
    missing_ok = ("--missing-ok",) if borrow is not None else ()
    out = await git.out("write-tree", *missing_ok, index=index, objects=objects)
    tree = out.decode().strip()
    if borrow is not None:
        await _copy_borrowed(git, tree, borrow)
        job.layout.mark_pack_horizon()
    check = None
    # A restore's files are held whatever the rules: check next time. A read (quarantined
    # objects) keeps nothing.
    if not job.forced and objects is None:
        if last is None:
            listing = await git.out("ls-tree", "-r", "-d", "-z", "--name-only", tree)
            folders = frozenset(filter(None, listing.split(b"\0"))) | {b""}
        grown = ignore_check.folders_of(staged.added) - folders
        unknown = ignore_check.sources(git.worktree, grown, [])
        check = ignore_check.IgnoreCheck(
            folders=folders | grown,
            stamps={**staged.stamps, **dict.fromkeys(unknown, ignore_check.UNKNOWN)},
            tracked_ignored=staged.tracked_ignored,
        )
    return TreeCapture(tree=tree, skipped=staged.skipped, index=index, ignore_check=check)


async def _copy_borrowed(git: StoreGit, tree: str, borrow: Path) -> None:
    """Copy every object ``tree`` needs from the project's object folder into the store, so the
    snapshot stays whole whatever the project later does to its history.

    A loose object is copied as its file (recompressing a checkout's objects into a pack
    took seconds); the rest go into one pack of the store's own, reusing the project's packed
    data. An object the project lacks too (a partial clone) fails this, and the capture starts
    over empty.
    """
    listing = await git.out("rev-list", "--objects", "--no-object-names", tree, borrow=borrow)
    store_objects = git.git_dir / "objects"
    packed: list[bytes] = []
    folders: set[str] = set()
    for line in listing.split():
        oid = line.decode()
        if oid[:2] not in folders:
            (store_objects / oid[:2]).mkdir(exist_ok=True)
            folders.add(oid[:2])
        try:
            _copy_object(borrow / oid[:2] / oid[2:], store_objects / oid[:2] / oid[2:])
        except FileNotFoundError:
            packed.append(line)
    if packed:
        await git.run(
            "pack-objects",
            "-q",
            str(store_objects / "pack" / "pack"),
            input=b"\n".join(packed) + b"\n",
            borrow=borrow,
        )


def _copy_object(source: Path, target: Path) -> None:
    """Copy one loose object file in the kernel (``sendfile``), atomically: a reader never
    sees half of it."""
    reading = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        temp = target.with_name(f"tmp_obj_{os.getpid()}_{target.name}")
        writing = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o444)
        try:
            size, done = os.fstat(reading).st_size, 0
            while done < size:
                sent = os.sendfile(writing, reading, done, size - done)
                if sent == 0:
                    break
                done += sent
        finally:
            os.close(writing)
        os.replace(temp, target)
    finally:
        os.close(reading)


def seed_index(last: Path, scoped: Path, project_index: Path | None = None) -> Seed:
    """Start the scoped index from the last good one (stat data and all).

    The store's own index is hard-linked, not copied: Git never writes an index in place
    (it writes a new file and renames it over), so the link is never changed through, and a
    capture that changes nothing costs no copy of a large index. Without one, copy the
    project's own index if given (its stat data lets unchanged files go unhashed; ``copy2``
    keeps the mtime Git's racy-file check relies on; a link would change the project's file);
    else start empty.
    """
    scoped.unlink(missing_ok=True)
    try:
        os.link(last, scoped)
        return "store"
    except FileNotFoundError:
        pass
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(last, scoped)
            return "store"
    if project_index is not None:
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(project_index, scoped)
            return "project"
    return "empty"


async def _release_project_marks(git: StoreGit, index: Path) -> None:
    """Make a copy of the project's index safe to capture with.

    Entries marked assume-unchanged or skip-worktree would hide changes on disk, so the marks
    go; submodules are let go, so that they are reported as nested repositories.
    """
    listing = await git.out("ls-files", "-z", "--stage", "-v", index=index)
    unchanged: list[bytes] = []
    sparse: list[bytes] = []
    submodules: list[bytes] = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        info, _, path = record.partition(b"\t")
        tag, mode = info[:1], info.split(b" ", 2)[1]
        if tag.islower():
            unchanged.append(path)
        if tag in (b"S", b"s"):
            sparse.append(path)
        if mode == b"160000":
            submodules.append(path)
    # update-index applies one marking option per run, so each mark takes its own.
    for option, paths in (
        ("--no-assume-unchanged", unchanged),
        ("--no-skip-worktree", sparse),
        ("--force-remove", submodules),
    ):
        if paths:
            await git.run(
                "update-index",
                option,
                "-z",
                "--stdin",
                input=b"\0".join(dict.fromkeys(paths)) + b"\0",
                index=index,
            )


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


@attrs.frozen
class _Staged:
    """What staging left out, the paths it added, and the ignored files the project tracks."""

    skipped: tuple[Skipped, ...]
    added: tuple[bytes, ...]
    tracked_ignored: tuple[bytes, ...]
    #: The stat of the ignore answers' sources, taken before the answers were sought.
    stamps: dict[str, ignore_check.Stamp]


async def _stage(job: _Job, last: ignore_check.IgnoreCheck | None, to_stamp: list[str]) -> _Staged:
    """Bring the scoped index up to date with the tree.

    The two walks of the tree (held files, new files) run at once: ``add --update`` replaces
    the index atomically, and the readers see it before or after, which list the same new
    files (a deleted file is in neither list), except at a nested repository: Git walks into
    one only while the index holds files there (or a file where it stands), so repositories
    where held files were let go (``add --verbose`` names them) or new files were listed are
    listed again once the index is done.
    The ignore questions are asked only if a source of ``last``'s answers (``to_stamp``)
    changed; its stat is taken alongside the walks, and the questions run alongside too.
    """
    git, project, index, objects = job.git, job.project, job.index, job.objects
    max_file_size, forced = job.max_file_size, job.forced

    async def tracked_ignored() -> list[bytes]:
        return await project_tracked_ignored(git.worktree) if project.is_repo else []

    async def held_ignored() -> bytes:
        return await git.out(
            "ls-files", "-z", "--cached", "--ignored", "--exclude-standard", index=index
        )

    root = os.fsencode(git.worktree)

    async def ignore_answers() -> tuple[dict[str, ignore_check.Stamp], list[bytes], bytes]:
        stamps = await anyio.to_thread.run_sync(ignore_check.stamp_all, to_stamp)
        if last is not None and last.stamps == stamps:
            return stamps, list(last.tracked_ignored), b""
        tracked, held = await gather(tracked_ignored, held_ignored)
        return stamps, tracked, held

    async def update_held() -> bytes:
        # Files already held: modified and deleted ones (unchanged ones are not hashed again).
        # Verbose, to learn which it let go: one may now be a folder Git treats otherwise.
        return await git.out("add", "--update", "--verbose", index=index, objects=objects)

    async def list_new() -> bytes:
        return await git.out("ls-files", "-z", "--others", "--exclude-standard", index=index)

    answers, updated, others = await gather(ignore_answers, update_held, list_new)
    stamps, ignored_tracked, held = answers
    removed = _removed(updated)
    if removed is None:  # a name add -v cannot show plainly: walk again, the index done
        others = await list_new()
        removed = []
    # A held file that an ignore rule now matches is let go, as the project's Git would
    # never have taken it, unless the project's Git tracks it.
    dropped = set(filter(None, held.split(b"\0"))) - set(ignored_tracked)
    if dropped:
        await git.run(
            "update-index",
            "--force-remove",
            "-z",
            "--stdin",
            input=b"\0".join(sorted(dropped)) + b"\0",
            index=index,
        )
    worktree = git.worktree
    listed = [path for path in others.split(b"\0") if path]
    # Held files let go inside a nested repository, or where one now stands, change how Git
    # treats it, too.
    gone = [*sorted(dropped), *removed]
    here = [p for p in gone if os.path.lexists(os.path.join(root, p, b".git"))]
    inside = [*listed, *gone]
    repos = _outermost([*here, *_nested_repositories(worktree, inside)])
    if repos:
        listed = [p for p in listed if not any(p.startswith(r + b"/") for r in repos)]
        listed += await list_others(git, index, repos)
    new_paths: list[bytes] = []
    too_large: list[tuple[bytes, int]] = []
    skipped: list[Skipped] = []
    for path in listed:
        refused = left_out(path)
        if refused is not None:
            skipped.append(refused)
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
                skipped.append(over_limit(path, size, max_file_size))
    new_paths += ignored_tracked
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
            config=("core.bigFileThreshold=1",) if len(present) >= BULK_PATHS else (),
        )
    return _Staged(
        skipped=tuple(sorted(skipped, key=lambda item: os.fsencode(item.path))),
        added=tuple(present),
        tracked_ignored=tuple(ignored_tracked),
        stamps=stamps,
    )


def _removed(verbose: bytes) -> list[bytes] | None:
    """The paths ``git add --update --verbose`` let go (its ``remove 'PATH'`` lines, the path
    printed as it is), or None if a line cannot be read so (a name with a line break)."""
    removed = []
    for line in verbose.split(b"\n"):
        if line.startswith(b"add '") and line.endswith(b"'"):
            continue
        if line.startswith(b"remove '") and line.endswith(b"'"):
            removed.append(line[len(b"remove '") : -1])
        elif line:
            return None
    return removed


def _outermost(folders: list[bytes]) -> list[bytes]:
    """``folders`` without those inside another of them."""
    kept: list[bytes] = []
    for folder in sorted(set(folders)):
        if not any(folder.startswith(k + b"/") for k in kept):
            kept.append(folder)
    return kept


def _nested_repositories(worktree: Path, listed: list[bytes]) -> list[bytes]:
    """The outermost folders holding a ``.git`` that new files were listed inside."""
    root = os.fsencode(worktree)
    known: dict[bytes, bool] = {}
    found: set[bytes] = set()
    for path in listed:
        parts = path.rstrip(b"/").split(b"/")
        for depth in range(1, len(parts)):
            folder = b"/".join(parts[:depth])
            if folder not in known:
                known[folder] = os.path.lexists(os.path.join(root, folder, b".git"))
            if known[folder]:
                found.add(folder)
                break
    return sorted(found)


async def list_others(git: StoreGit, index: Path, paths: Sequence[bytes]) -> list[bytes]:
    """What ``ls-files --others`` lists under ``paths`` only (files or folders), against
    ``index`` as it is now (a path that does not exist is an empty index)."""
    listed: list[bytes] = []
    for start in range(0, len(paths), ARGS_PER_CALL):
        batch = [os.fsdecode(f) for f in paths[start : start + ARGS_PER_CALL]]
        out = await git.out(
            "ls-files", "-z", "--others", "--exclude-standard", "--", *batch, index=index
        )
        listed += [path for path in out.split(b"\0") if path]
    return listed


def _is_file_or_link(path: bytes) -> bool:
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def left_out(listed: bytes) -> Skipped | None:
    """Why a path ``ls-files --others`` listed cannot be captured, or None if it can.

    A nested repository is listed as ``path/``; Git refuses any path with a component
    spelled ``.git`` in any case.
    """
    if listed.endswith(b"/"):
        return Skipped(os.fsdecode(listed.rstrip(b"/")), "nested git repository (not captured)")
    if any(part.lower() == b".git" for part in listed.split(b"/")):
        return Skipped(os.fsdecode(listed), "a name Git cannot store in a tree")
    return None


def over_limit(path: bytes, size: int, limit: int) -> Skipped:
    """What is reported for a new file over the size limit."""
    return Skipped(os.fsdecode(path), f"new file over the size limit ({size} > {limit} bytes)")


def _abs(worktree: Path, path: bytes) -> bytes:
    return os.path.join(os.fsencode(worktree), path)
