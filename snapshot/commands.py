"""What each ``snap`` command does, once its arguments are parsed: the store's side of the CLI.

Kept apart from :mod:`snapshot.cli` so that ``snap --help`` and usage errors never import the
store (pygit2, anyio), and the command starts as fast as Python itself.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

import procio
from snapshot.defaults import WORKTREE_NAME
from snapshot.errors import RefusedWorktree, SnapError
from snapshot.models import RestoreResult, RevertResult, Snapshot, to_json
from snapshot.store import Store


def run(args: argparse.Namespace) -> int:
    """Carry out parsed arguments; return the exit status (errors are one line on stderr)."""
    try:
        return anyio.run(_dispatch, args)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except (SnapError, procio.ProcError) as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # a bug: still one line, with a way to see more
        if os.environ.get("SNAP_DEBUG"):
            raise
        _error(f"unexpected {type(exc).__name__}: {exc} (set SNAP_DEBUG=1 for a traceback)")
        return 1


async def _dispatch(args: argparse.Namespace) -> int:
    worktree = await _worktree(args.worktree)
    with _progress(f"opening the store of {worktree}"):
        store = await Store.open(worktree, store=args.store, lock_timeout=args.lock_timeout)
    handler = globals()[f"_cmd_{args.command}"]
    return await handler(store, args)


async def _cmd_capture(store: Store, args: argparse.Namespace) -> int:
    paths = None if args.paths_from is None else _read_paths(store, args.paths_from, args.nul)
    with _progress("capturing"):
        snapshot = await store.capture(args.message, max_file_size=args.max_file_size, paths=paths)
    if args.json:
        return _emit_json(snapshot)
    lines = [f"captured {snapshot.id} (tree {snapshot.tree})"]
    lines += [f"skipped {item.path!r}: {item.reason}" for item in snapshot.skipped]
    return _emit_text(lines)


async def _cmd_list(store: Store, args: argparse.Namespace) -> int:
    snapshots = await store.list()
    if args.json:
        return _emit_json(snapshots)
    return _emit_text(_snapshot_line(s) for s in snapshots)


async def _cmd_show(store: Store, args: argparse.Namespace) -> int:
    snapshot = await store.show(args.id)
    if args.json:
        return _emit_json(snapshot)
    lines = [
        f"id:       {snapshot.id}",
        f"tree:     {snapshot.tree}",
        f"created:  {to_json(snapshot.created_at)}",
        f"message:  {snapshot.message or ''}",
    ]
    lines += [f"skipped:  {item.path!r}: {item.reason}" for item in snapshot.skipped]
    return _emit_text(lines)


async def _cmd_diff(store: Store, args: argparse.Namespace) -> int:
    with _progress("comparing"):
        diff = await store.diff(
            _side(args.from_ref), _side(args.to_ref), contents=args.contents and args.json
        )
    if args.json:
        keys = ["path", "status", "additions", "deletions", "binary"]
        if args.contents:
            keys += ["before", "after"]
        return _emit_json([{key: getattr(c, key) for key in keys} for c in diff.changes])
    if args.name_status:
        return _emit_bytes(diff.name_status(nul=args.z))
    if args.name_only:
        end = b"\0" if args.z else b"\n"
        return _emit_bytes(b"".join(os.fsencode(p) + end for p in diff.name_only()))
    if args.stat:
        return _emit_bytes(diff.stat())
    if args.numstat:
        return _emit_bytes(diff.numstat(nul=args.z))
    return _emit_bytes(diff.patch)


async def _cmd_restore(store: Store, args: argparse.Namespace) -> int:
    with _progress("restoring"):
        result = await store.restore(args.id, dry_run=args.dry_run)
    return _emit_change(result, args)


async def _cmd_revert(store: Store, args: argparse.Namespace) -> int:
    paths = [_tree_path(store.worktree, path) for path in args.paths]
    with _progress("reverting"):
        result = await store.revert(args.id, paths, dry_run=args.dry_run)
    return _emit_change(result, args)


async def _cmd_cat(store: Store, args: argparse.Namespace) -> int:
    path = _tree_path(store.worktree, args.path)
    data = await store.cat(args.id, path)
    if args.json:
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        encoded = base64.b64encode(data).decode()
        return _emit_json({"path": path, "size": len(data), "text": text, "base64": encoded})
    return _emit_bytes(data)


async def _cmd_gc(store: Store, args: argparse.Namespace) -> int:
    with _progress("collecting garbage"):
        result = await store.gc(keep_last=args.keep_last, older_than=args.older_than)
    if args.json:
        return _emit_json(result)
    return _emit_text([f"removed {len(result.removed)} snapshot(s), kept {len(result.kept)}"])


async def _cmd_verify(store: Store, args: argparse.Namespace) -> int:
    with _progress("verifying"):
        result = await store.verify()
    if args.json:
        _emit_json(result)
    else:
        _emit_text(["ok"] if result.ok else list(result.problems))
    if not result.ok:
        _error(f"the store has {len(result.problems)} problem(s)")
        return 1
    return 0


# ------------------------------------------------------------------------------- helpers


async def _worktree(named: str | None) -> Path:
    """``-C``, else the top of the checkout holding the current folder, else that folder."""
    if named is not None:
        return Path(named)
    here = Path.cwd()
    result = await procio.run(
        ["git", "rev-parse", "--show-toplevel"], env={"GIT_OPTIONAL_LOCKS": "0"}
    )
    top = Path(os.fsdecode(result.stdout.strip())) if result.ok and result.stdout.strip() else here
    real = Path(os.path.realpath(top))
    home = Path(os.path.realpath(os.path.expanduser("~")))
    if real in (home, Path(real.anchor)):
        raise RefusedWorktree(
            f"refusing to snapshot {str(real)!r} (the home folder or the file-system root): "
            "name it with -C if you really mean it"
        )
    return top


def _read_paths(store: Store, source: str, nul: bool) -> list[str]:
    """The paths of ``--paths-from``: one per line (or NUL-ended), blank ones ignored."""
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise SnapError(f"cannot read the path list {source!r}: {exc.strerror}") from None
    records = data.split(b"\0") if nul else data.splitlines()
    return [_tree_path(store.worktree, os.fsdecode(r)) for r in records if r.strip()]


def _tree_path(worktree: Path, path: str) -> str:
    """A path from the command line: relative to the current folder when that is in the tree."""
    if os.path.isabs(path):
        return path
    here = Path(os.path.realpath(Path.cwd()))
    if here == worktree or worktree in here.parents:
        return os.path.relpath(os.path.join(here, path), worktree)
    return path


def _side(name: str) -> str | None:
    return None if name == WORKTREE_NAME else name


def _snapshot_line(snapshot: Snapshot) -> str:
    created = snapshot.created_at.strftime("%Y-%m-%d %H:%M:%S")
    skipped = f"  ({len(snapshot.skipped)} skipped)" if snapshot.skipped else ""
    return f"{snapshot.id}  {created}  {snapshot.tree[:12]}  {snapshot.message or ''}{skipped}"


def _emit_change(result: RestoreResult | RevertResult, args: argparse.Namespace) -> int:
    if args.json:
        data = to_json(result)
        data.pop("dry_run", None)
        if isinstance(result, RevertResult) and not result.kept:
            data.pop("kept", None)
        return _emit_json(data)
    verb = "would " if args.dry_run else ""
    lines = [f"{verb}write {p}" for p in result.written]
    lines += [f"{verb}delete {p}" for p in result.deleted]
    lines += [f"kept {item.path}: {item.reason}" for item in result.kept]
    if result.undo:
        lines.append(f"undo with: snap restore {result.undo}")
    return _emit_text(lines)


def _emit_json(value: Any) -> int:
    document = json.dumps(to_json(value), ensure_ascii=True, indent=2)
    return _emit_bytes(document.encode() + b"\n")


def _emit_text(lines: Any) -> int:
    return _emit_bytes("".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape"))


def _emit_bytes(data: bytes) -> int:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the exit flush says nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _error(message: str) -> None:
    sys.stderr.write(f"snap: error: {message}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _progress(message: str) -> Iterator[None]:
    """A status line on stderr while long work runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    sys.stderr.write(f"snap: {message}…")
    sys.stderr.flush()
    try:
        yield
    finally:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
