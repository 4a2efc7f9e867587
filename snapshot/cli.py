"""The ``snap`` command: every store operation, for people and for scripts (``--json``).

Exit status: 0 on success, 1 on failure (one ``snap: error: ...`` line on stderr), 2 on a usage
error. With ``--json`` stdout holds exactly one JSON document. Output cut short by a closed
pipe (``snap diff | head -1``) ends quietly.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio

import procio
from snapshot.capture import DEFAULT_MAX_FILE_SIZE
from snapshot.errors import RefusedWorktree, SnapError
from snapshot.locking import DEFAULT_LOCK_TIMEOUT
from snapshot.models import RestoreResult, RevertResult, Snapshot, to_json
from snapshot.retention import parse_duration
from snapshot.store import LATEST, Store

#: The name ``diff`` takes for the working tree as it is now.
WORKTREE_NAME = "worktree"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snap`` with ``argv`` (default: the process's arguments); return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
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


def _parser() -> argparse.ArgumentParser:
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
    )
    parser = argparse.ArgumentParser(
        prog="snap",
        description="Snapshots of a working tree, kept in Git outside the tree.",
    )
    parser.add_argument("-C", dest="worktree", metavar="WORKTREE", help="the working tree")
    parser.add_argument("--store", metavar="DIR", help="the store's folder (or $SNAP_STORE)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=float(os.environ.get("SNAP_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT)),
        metavar="SECONDS",
        help="how long to wait for another writer (default %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    capture = commands.add_parser("capture", parents=[json_flag], help="capture the tree")
    capture.add_argument("-m", "--message", help="a message kept with the snapshot")
    capture.add_argument(
        "--max-file-size",
        type=_size,
        default=None,
        metavar="BYTES",
        help=f"skip new files larger than this (default {DEFAULT_MAX_FILE_SIZE})",
    )

    commands.add_parser("list", parents=[json_flag], help="list snapshots, newest first")
    show = commands.add_parser("show", parents=[json_flag], help="show one snapshot")
    show.add_argument("id")

    diff = commands.add_parser("diff", parents=[json_flag], help="show changes")
    diff.add_argument("from_ref", nargs="?", default=LATEST, metavar="FROM")
    diff.add_argument("to_ref", nargs="?", default=WORKTREE_NAME, metavar="TO")
    form = diff.add_mutually_exclusive_group()
    form.add_argument("--name-status", action="store_true", help="STATUS<TAB>PATH lines")
    form.add_argument("--name-only", action="store_true", help="the changed paths")
    form.add_argument("--stat", action="store_true", help="a diffstat")
    form.add_argument("--numstat", action="store_true", help="ADDED<TAB>DELETED<TAB>PATH lines")
    diff.add_argument("-z", action="store_true", help="NUL-terminated records")
    diff.add_argument("--contents", action="store_true", help="with --json: before and after")

    restore = commands.add_parser("restore", parents=[json_flag], help="restore the whole tree")
    restore.add_argument("id")
    restore.add_argument("--dry-run", action="store_true", help="only say what would change")

    revert = commands.add_parser("revert", parents=[json_flag], help="restore some paths")
    revert.add_argument("id")
    revert.add_argument("paths", nargs="+", metavar="PATH")
    revert.add_argument("--dry-run", action="store_true", help="only say what would change")

    cat = commands.add_parser("cat", parents=[json_flag], help="print a file of a snapshot")
    cat.add_argument("id")
    cat.add_argument("path", metavar="PATH")

    gc = commands.add_parser("gc", parents=[json_flag], help="remove old snapshots")
    gc.add_argument("--keep-last", type=_count, metavar="N", help="keep the N newest")
    gc.add_argument(
        "--older-than", type=_duration, metavar="DURATION", help="remove older ones (7d)"
    )

    commands.add_parser("verify", parents=[json_flag], help="check the store")
    return parser


async def _dispatch(args: argparse.Namespace) -> int:
    worktree = await _worktree(args.worktree)
    with _progress(f"opening the store of {worktree}"):
        store = await Store.open(worktree, store=args.store, lock_timeout=args.lock_timeout)
    handler = globals()[f"_cmd_{args.command}"]
    return await handler(store, args)


async def _cmd_capture(store: Store, args: argparse.Namespace) -> int:
    with _progress("capturing"):
        snapshot = await store.capture(args.message, max_file_size=args.max_file_size)
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


def _size(text: str) -> int:
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    lowered = text.strip().lower().removesuffix("b").removesuffix("i")
    number, unit = lowered, ""
    if lowered and lowered[-1] in units:
        number, unit = lowered[:-1], lowered[-1]
    try:
        value = int(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size in bytes: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a size must not be negative")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except SnapError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
