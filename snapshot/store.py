"""The snapshot store: capture, read, diff, restore, revert, gc and verify one working tree.

The store is a bare Git repository outside the tree. Each snapshot is an annotated tag object
(its message holds the snapshot's message and what the capture skipped) pointing at the
tree's Git tree, kept under ``refs/snaps/<id>``: created once by compare-and-swap, never moved.
Writers (capture, restore, revert, gc) hold the store's lock; readers never wait for it.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as _dt
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.to_thread
import attrs
import pygit2

import procio
from snapshot import ids, ignore_check
from snapshot.capture import TreeCapture, capture_tree
from snapshot.defaults import DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_FILE_SIZE, LATEST
from snapshot.diffing import TreeDiff, diff_trees
from snapshot.errors import (
    AmbiguousSnapshot,
    BadPath,
    GitFailed,
    SnapError,
    UnknownSnapshot,
)
from snapshot.git import (
    NEUTRAL_ATTRIBUTES,
    STORE_GLOBAL_CONFIG,
    ZERO_OID,
    Project,
    StoreGit,
    hermetic_env,
    project_excludes_file,
    project_info,
)
from snapshot.hinted import hinted_tree
from snapshot.layout import Layout, default_store_dir, remove_path
from snapshot.locking import store_lock
from snapshot.models import (
    FileChange,
    GcResult,
    RestoreResult,
    RevertResult,
    Skipped,
    Snapshot,
    VerifyResult,
)
from snapshot.restoring import Plan, apply_plan, make_plan
from snapshot.retention import DEFAULT_OLDER_THAN, select_removals
from snapshot.trees import Entry, flatten, lookup, open_repo

REF_PREFIX = "refs/snaps/"
#: Small loose objects (estimated) past which a writer packs them before it ends, as ``git
#: gc --auto`` would (its threshold is 6,700; snapshots come much more often than commits).
AUTO_PACK_LOOSE = 1024
#: Packs past which the small ones are rolled up (``git repack --geometric``), so that finding
#: an object never means searching hundreds of packs.
AUTO_PACK_PACKS = 16
#: What ``diff`` compares with when no snapshot is named: the tree as it is now.
WORKTREE = None


class Store:
    """Snapshots of one working tree, kept in a bare Git repository of their own."""

    def __init__(
        self,
        worktree: Path,
        git_dir: Path,
        project: Project,
        excludes_file: str | None,
        *,
        max_file_size: int,
        lock_timeout: float,
    ) -> None:
        self.worktree = worktree
        self.path = git_dir
        self.max_file_size = max_file_size
        self.lock_timeout = lock_timeout
        self._layout = Layout(git_dir)
        self._project = project
        self._git = StoreGit(git_dir, worktree, excludes_file)
        self._handle: pygit2.Repository | None = None

    # ----------------------------------------------------------------------------- opening

    @classmethod
    async def open(
        cls,
        worktree: str | os.PathLike[str],
        *,
        store: str | os.PathLike[str] | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> Store:
        """Open (creating on first use) the store of ``worktree``.

        ``store`` (or ``$SNAP_STORE``) picks the store's folder; by default it lives under
        ``${XDG_DATA_HOME:-~/.local/share}/snap/``, outside the tree.
        """
        if max_file_size < 0:
            raise SnapError("the size limit must not be negative")
        tree = Path(os.path.realpath(os.fspath(worktree)))
        if not tree.is_dir():
            raise SnapError(f"working tree {os.fspath(worktree)!r} is not a folder")
        chosen = store if store is not None else os.environ.get("SNAP_STORE") or None
        git_dir = Path(os.path.abspath(chosen)) if chosen else default_store_dir(tree)
        if _inside(git_dir, tree):
            raise SnapError(
                f"the store {str(git_dir)!r} would lie inside the working tree: "
                "choose one outside it with --store or SNAP_STORE"
            )
        await _ensure_store(git_dir, tree)
        project = await project_info(tree)
        excludes_file = await project_excludes_file(tree)
        return cls(
            tree,
            git_dir,
            project,
            excludes_file,
            max_file_size=max_file_size,
            lock_timeout=lock_timeout,
        )

    # ----------------------------------------------------------------------------- capture

    async def capture(
        self,
        message: str | None = None,
        *,
        max_file_size: int | None = None,
        paths: Iterable[str | bytes] | None = None,
    ) -> Snapshot:
        """Capture the working tree as a new snapshot.

        With ``paths`` (files or folders the caller changed), only those are read again: each
        is exact, and everything else is carried from the newest snapshot (see
        :mod:`snapshot.hinted`). Without them, or with no snapshot yet, the whole tree is
        reconciled.
        """
        hints = None if paths is None else self._hints(paths)
        async with self._writing("capture"):
            newest = max(self._ref_names(), default=None)
            repo = self._writer_repo()
            hinted = None
            if hints is not None and newest is not None:
                hinted = await hinted_tree(
                    self._git,
                    repo,
                    self._project,
                    self._load(repo, newest),
                    hints,
                    max_file_size=self.max_file_size if max_file_size is None else max_file_size,
                    scratch_index=self._layout.scratch_path("no-index"),
                )
            if hinted is None:
                return await self._capture_locked(message, max_file_size=max_file_size)
            return await self._record(hinted.tree, hinted.skipped, message)

    def _hints(self, paths: Iterable[str | bytes]) -> builtins.list[bytes] | None:
        """The hinted paths, checked to lie inside the tree; None if one names the whole tree."""
        hints = []
        for path in paths:
            raw = os.fsencode(path)
            full = raw if os.path.isabs(raw) else os.path.join(os.fsencode(self.worktree), raw)
            if os.path.normpath(full) == os.fsencode(self.worktree):
                return None
            hints.append(self._relative(path))
        return builtins.list(dict.fromkeys(hints))

    async def _capture_locked(
        self,
        message: str | None,
        *,
        max_file_size: int | None = None,
        force_paths: Sequence[bytes] = (),
    ) -> Snapshot:
        limit = self.max_file_size if max_file_size is None else max_file_size
        async with self._promoted_capture(limit, force_paths) as captured:
            return await self._record(captured.tree, captured.skipped, message)

    @contextlib.asynccontextmanager
    async def _promoted_capture(
        self, max_file_size: int, force_paths: Sequence[bytes]
    ) -> AsyncIterator[TreeCapture]:
        """Capture into a scratch index; promote it to the store's index if the body succeeds."""
        index = self._layout.scratch_path("capture-index")
        try:
            captured = await capture_tree(
                self._git,
                self._layout,
                self._project,
                max_file_size=max_file_size,
                index=index,
                force_paths=force_paths,
            )
            yield captured
            ignore_check.forget(self._layout.ignore_check)
            os.replace(index, self._layout.index)
            if captured.ignore_check is not None:
                ignore_check.save(self._layout.ignore_check, captured.ignore_check)
        finally:
            _remove_index(index)

    async def _record(self, tree: str, skipped: Sequence[Skipped], message: str | None) -> Snapshot:
        """Create the snapshot's tag object, then its ref, by compare-and-swap from nothing."""
        newest = max(self._ref_names(), default=None)
        snapshot_id = ids.new_id(newest)
        created = ids.created_at(snapshot_id)
        body = json.dumps(
            {
                "message": message,
                "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
            },
            ensure_ascii=True,
        )
        tag = (
            f"object {tree}\ntype tree\ntag snap-{snapshot_id}\n"
            f"tagger snap <snap@localhost> {int(created.timestamp())} +0000\n\n{body}\n"
        ).encode()
        # Written in-process (one git process less per capture); the ref that makes it a
        # snapshot is git's update-ref, flushed to disk.
        tag_id = str(self._writer_repo().odb.write(pygit2.enums.ObjectType.TAG, tag))
        await self._git.run("update-ref", REF_PREFIX + snapshot_id, tag_id, ZERO_OID)
        return Snapshot(
            id=snapshot_id,
            tree=tree,
            created_at=created,
            message=message,
            skipped=tuple(skipped),
        )

    # ----------------------------------------------------------------------------- reading

    async def list(self) -> builtins.list[Snapshot]:
        """Every snapshot, newest first."""
        repo = open_repo(self.path)
        return [self._load(repo, name) for name in sorted(self._ref_names(repo), reverse=True)]

    async def show(self, ref: str) -> Snapshot:
        """One snapshot, by id, unique id prefix, tree hash or ``latest``."""
        return self._resolve(open_repo(self.path), ref)

    async def cat(self, ref: str, path: str | bytes) -> bytes:
        """The bytes of one file in a snapshot (a symbolic link gives its target)."""
        repo = open_repo(self.path)
        snapshot = self._resolve(repo, ref)
        relative = self._relative(path)
        entry = lookup(repo, snapshot.tree, relative)
        if entry is None:
            raise BadPath(f"snapshot {snapshot.id} has no file {os.fsdecode(relative)!r}")
        return repo[entry.oid].read_raw()

    async def diff(
        self,
        from_ref: str | None = LATEST,
        to_ref: str | None = WORKTREE,
        *,
        contents: bool = False,
    ) -> TreeDiff:
        """The changes from one side to the other; ``None`` names the working tree as it is."""
        async with self._view(needs_worktree=from_ref is None or to_ref is None) as view:
            old = view.tree if from_ref is None else self._resolve(view.repo, from_ref).tree
            new = view.tree if to_ref is None else self._resolve(view.repo, to_ref).tree
            return await anyio.to_thread.run_sync(
                lambda: diff_trees(view.repo, old, new, contents=contents)
            )

    async def changed(self, ref: str = LATEST) -> builtins.list[str]:
        """The paths that changed in the working tree since a snapshot."""
        return (await self.diff(ref, WORKTREE)).name_only()

    # ----------------------------------------------------------------------------- changing

    async def restore(self, ref: str, *, dry_run: bool = False) -> RestoreResult:
        """Make the whole tree match a snapshot, after capturing it as it is (the ``undo``)."""
        undo, plan = await self._change(ref, None, dry_run=dry_run)
        return RestoreResult(
            undo=undo,
            written=_decoded(path for path, _ in plan.writes),
            deleted=_decoded(plan.deletes),
            kept=plan.kept,
            dry_run=dry_run,
        )

    async def revert(
        self, ref: str, paths: Sequence[str | bytes], *, dry_run: bool = False
    ) -> RevertResult:
        """Make only ``paths`` (files or folders) match a snapshot: restored or deleted."""
        if not paths:
            raise BadPath("name at least one path to revert")
        scope = [self._relative(path) for path in paths]
        undo, plan = await self._change(ref, scope, dry_run=dry_run)
        return RevertResult(
            undo=undo,
            written=_decoded(path for path, _ in plan.writes),
            deleted=_decoded(plan.deletes),
            kept=plan.kept,
        )

    async def _change(
        self, ref: str, scope: builtins.list[bytes] | None, *, dry_run: bool
    ) -> tuple[str | None, Plan]:
        """Plan a restore (of ``scope`` only, if given) and, unless a dry run, carry it out."""
        if dry_run:
            async with self._view(needs_worktree=True) as view:
                target = flatten(view.repo, self._resolve(view.repo, ref).tree)
                return None, self._plan(view.repo, view.tree, view.skipped, target, scope)
        what = "restore" if scope is None else "revert"
        async with self._writing(what):
            repo = open_repo(self.path)
            snapshot = self._resolve(repo, ref)
            target = flatten(repo, snapshot.tree)
            if scope is not None:
                # Refuse before capturing anything: a path neither side nor the disk has.
                root = os.fsencode(self.worktree)
                _require_known(
                    scope,
                    lambda p: _matches(p, target) or os.path.lexists(os.path.join(root, p)),
                )
            undo = await self._capture_locked(f"before {what} to {snapshot.id}")
            plan = self._plan(repo, undo.tree, undo.skipped, target, scope)
            await anyio.to_thread.run_sync(apply_plan, self.worktree, repo, plan)
            # Files just restored count as held, whatever their size now.
            await self._refresh_index([path for path, _ in plan.writes])
            return undo.id, plan

    def _plan(
        self,
        repo: pygit2.Repository,
        current_tree: str,
        skipped: Sequence[Skipped],
        target: dict[bytes, Entry],
        scope: builtins.list[bytes] | None,
    ) -> Plan:
        current = flatten(repo, current_tree)
        if scope is None:
            return make_plan(self.worktree, current, target, skipped)
        _require_known(scope, lambda p: _matches(p, current) or _matches(p, target))
        return make_plan(
            self.worktree,
            current,
            target,
            skipped,
            in_scope=lambda p: any(p == q or p.startswith(q + b"/") for q in scope),
        )

    async def _refresh_index(self, force_paths: Sequence[bytes]) -> None:
        """Promote an index that holds the files just restored, whatever their size."""
        async with self._promoted_capture(self.max_file_size, force_paths):
            pass

    # ----------------------------------------------------------------------------- retention

    async def gc(
        self, *, keep_last: int | None = None, older_than: float | None = None
    ) -> GcResult:
        """Remove snapshots by policy, then prune what nothing reaches any more.

        ``keep_last`` keeps the N newest; ``older_than`` (seconds) removes older ones; given
        both, a snapshot goes only when both would remove it; given neither, ``older_than``
        is seven days.
        """
        if keep_last is not None and keep_last < 0:
            raise SnapError("--keep-last must not be negative")
        if older_than is not None and older_than < 0:
            raise SnapError("--older-than must not be negative")
        if keep_last is None and older_than is None:
            older_than = DEFAULT_OLDER_THAN
        async with self._writing("gc"):
            repo = open_repo(self.path)
            snapshots = [
                self._load(repo, name) for name in sorted(self._ref_names(repo), reverse=True)
            ]
            now = _dt.datetime.now(tz=_dt.UTC)
            removed = select_removals(snapshots, now, keep_last=keep_last, older_than=older_than)
            if removed:
                lines = "".join(
                    f"delete {REF_PREFIX}{s.id} {repo.references[REF_PREFIX + s.id].target}\n"
                    for s in removed
                )
                await self._git.run("update-ref", "--stdin", input=lines.encode())
            await self._git.run("repack", "-a", "-d", "-q")
            await self._git.run("prune", "--expire=now")
            gone = {s.id for s in removed}
            return GcResult(
                removed=tuple(s.id for s in removed),
                kept=tuple(s.id for s in snapshots if s.id not in gone),
            )

    async def verify(self) -> VerifyResult:
        """Check that every snapshot resolves to a complete tree and that ``git fsck`` is clean."""
        problems: builtins.list[str] = []
        repo = open_repo(self.path)
        for name in sorted(self._ref_names(repo)):
            if not ids.is_id(name):
                problems.append(f"{REF_PREFIX}{name}: not a snapshot id")
            try:
                snapshot = self._load(repo, name)
                for path, entry in flatten(repo, snapshot.tree).items():
                    if entry.oid not in repo:
                        problems.append(
                            f"snapshot {name}: missing blob {entry.oid} for {os.fsdecode(path)!r}"
                        )
            except (KeyError, ValueError, pygit2.GitError, SnapError) as exc:
                problems.append(f"snapshot {name}: incomplete ({exc})")
        fsck = await self._git.run(
            "fsck", "--no-progress", "--no-dangling", "--strict", ok_codes=range(256)
        )
        if fsck.returncode != 0:
            text = (fsck.stdout + fsck.stderr).decode("utf-8", "backslashreplace")
            problems += [f"git fsck: {line}" for line in text.splitlines() if line.strip()]
            if not text.strip():
                problems.append(f"git fsck: exit status {fsck.returncode}")
        return VerifyResult(ok=not problems, problems=tuple(problems))

    # ----------------------------------------------------------------------------- helpers

    def _writer_repo(self) -> pygit2.Repository:
        """One handle on the store for the event loop's own use (captures write through it):
        opening one costs more than a hinted capture's whole work. Threads open their own."""
        if self._handle is None:
            self._handle = open_repo(self.path)
        return self._handle

    @contextlib.asynccontextmanager
    async def _writing(self, what: str) -> AsyncIterator[None]:
        async with store_lock(self._layout.lock, self._layout.holder, self.lock_timeout, what):
            self._layout.clean_scratch()
            yield
            if what != "gc" and self._layout.small_loose_estimate() > AUTO_PACK_LOOSE:
                await self._pack_small_objects()

    async def _pack_small_objects(self) -> None:
        """Pack the small loose objects into one pack and delete them.

        Each costs a file-system block (a capture of 10 changed files in a deep tree writes
        ~40 of them). Large ones stay loose: recompressing them into a pack would take
        seconds for little gain. Past :data:`AUTO_PACK_PACKS` packs, the small ones are
        rolled up; ``gc`` packs everything into one pack.
        """
        oids = self._layout.small_loose_objects()
        if oids:
            await self._git.run(
                "pack-objects",
                "-q",
                str(self.path / "objects" / "pack" / "pack"),
                input="".join(f"{oid}\n" for oid in oids).encode(),
            )
        await self._git.run("prune-packed", "-q")
        if self._layout.pack_count() > AUTO_PACK_PACKS:
            # Rolls the small packs into a geometric progression (and any loose object left).
            await self._git.run("repack", "-d", "-q", "--geometric=2")

    @contextlib.asynccontextmanager
    async def _view(self, *, needs_worktree: bool) -> AsyncIterator[_View]:
        """A repository handle, and with ``needs_worktree`` the tree as it is now.

        The working tree is captured without the lock into a quarantine object folder, so
        reading leaves nothing in the store and never waits for a writer.
        """
        if not needs_worktree:
            yield _View(open_repo(self.path), "", ())
            return
        quarantine = self._layout.scratch_path("read-objects")
        index = self._layout.scratch_path("read-index")
        quarantine.mkdir(parents=True)
        try:
            captured = await capture_tree(
                self._git,
                self._layout,
                self._project,
                max_file_size=self.max_file_size,
                index=index,
                objects=quarantine,
            )
            yield _View(open_repo(self.path, quarantine), captured.tree, captured.skipped)
        finally:
            _remove_index(index)
            remove_path(quarantine)

    def _ref_names(self, repo: pygit2.Repository | None = None) -> builtins.list[str]:
        repo = repo or self._writer_repo()
        return [name[len(REF_PREFIX) :] for name in repo.references if name.startswith(REF_PREFIX)]

    def _load(self, repo: pygit2.Repository, name: str) -> Snapshot:
        tag = repo.references[REF_PREFIX + name].peel(pygit2.Tag)
        try:
            meta = json.loads(tag.message)
        except ValueError:
            meta = {"message": tag.message, "skipped": []}
        created = (
            ids.created_at(name)
            if ids.is_id(name)
            else _dt.datetime.fromtimestamp(tag.tagger.time, tz=_dt.UTC)
        )
        return Snapshot(
            id=name,
            tree=str(tag.target),
            created_at=created,
            message=meta.get("message"),
            skipped=tuple(Skipped(s["path"], s["reason"]) for s in meta.get("skipped", [])),
        )

    def _resolve(self, repo: pygit2.Repository, ref: str) -> Snapshot:
        """The snapshot ``ref`` names: an id, a unique id prefix, a tree hash, or ``latest``."""
        if ids.is_id(ref) and repo.references.get(REF_PREFIX + ref) is not None:
            return self._load(repo, ref)
        names = sorted(self._ref_names(repo), reverse=True)
        if ref == LATEST:
            if not names:
                raise UnknownSnapshot("there are no snapshots yet: run `snap capture` first")
            return self._load(repo, names[0])
        if ref in names:
            return self._load(repo, ref)
        lowered = ref.lower()
        if len(lowered) < 4:
            raise UnknownSnapshot(f"snapshot id {ref!r} is too short: give at least 4 characters")
        by_id = [name for name in names if name.startswith(lowered)]
        if len(by_id) > 1:
            shown = ", ".join(by_id[:5]) + (", …" if len(by_id) > 5 else "")
            raise AmbiguousSnapshot(f"snapshot id {ref!r} is ambiguous: it matches {shown}")
        if by_id:
            return self._load(repo, by_id[0])
        if all(c in "0123456789abcdef" for c in lowered):
            for name in names:  # newest first: equal trees are equal content
                snapshot = self._load(repo, name)
                if snapshot.tree.startswith(lowered):
                    return snapshot
        raise UnknownSnapshot(f"no snapshot matches {ref!r} (see `snap list`)")

    def _relative(self, path: str | bytes) -> bytes:
        """A path relative to the tree's root, checked to stay inside it."""
        raw = os.fsencode(path)
        if os.path.isabs(raw):
            raw = os.path.relpath(raw, os.fsencode(self.worktree))
        normal = os.path.normpath(raw)
        if normal == b"." or normal.startswith(b"../") or normal == b".." or os.path.isabs(normal):
            raise BadPath(f"{os.fsdecode(raw)!r} is not a path inside the working tree")
        return normal


@attrs.frozen
class _View:
    """What a read sees: a repository handle, and the working tree's tree if asked for."""

    repo: pygit2.Repository
    tree: str
    skipped: tuple[Skipped, ...]


def _decoded(paths: Iterable[bytes]) -> tuple[str, ...]:
    return tuple(os.fsdecode(path) for path in paths)


def _require_known(scope: Sequence[bytes], known: Callable[[bytes], bool]) -> None:
    for path in scope:
        if not known(path):
            raise BadPath(
                f"{os.fsdecode(path)!r} is neither in the snapshot nor in the working tree"
            )


def _matches(path: bytes, entries: Mapping[bytes, object]) -> bool:
    prefix = path + b"/"
    return path in entries or any(p.startswith(prefix) for p in entries)


def _inside(path: Path, folder: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == folder or folder in real.parents


def _remove_index(index: Path) -> None:
    for leftover in (index, index.with_name(index.name + ".lock")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


async def _ensure_store(git_dir: Path, worktree: Path) -> None:
    """Create the store on first use: a bare repository, mode 0700, set up atomically."""
    layout = Layout(git_dir)
    if not (git_dir / "HEAD").exists():
        git_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = git_dir.with_name(f".{git_dir.name}.init-{os.getpid()}-{time.monotonic_ns()}")
        try:
            await procio.run(
                ["git", "init", "--bare", "--quiet", "--template=", str(staging)],
                env=hermetic_env({"GIT_CONFIG_GLOBAL": os.devnull}),
                check=True,
            )
            os.chmod(staging, 0o700)
            staged = Layout(staging)
            staged.own.mkdir()
            staged.scratch.mkdir()
            staged.global_config.write_text(STORE_GLOBAL_CONFIG)
            staged.attributes.parent.mkdir(exist_ok=True)
            staged.attributes.write_text(NEUTRAL_ATTRIBUTES)
            staged.worktree_record.write_bytes(os.fsencode(worktree) + b"\n")
            try:
                os.rename(staging, git_dir)
            except OSError:
                if not (git_dir / "HEAD").exists():
                    raise
        except procio.ProcError as exc:
            raise GitFailed(f"cannot create the store at {str(git_dir)!r}: {exc}") from None
        finally:
            remove_path(staging)
    layout.scratch.mkdir(parents=True, exist_ok=True)
    if not layout.attributes.exists():
        layout.attributes.parent.mkdir(exist_ok=True)
        layout.attributes.write_text(NEUTRAL_ATTRIBUTES)
    if not layout.global_config.exists():
        layout.global_config.write_text(STORE_GLOBAL_CONFIG)


__all__ = ["FileChange", "Store"]
