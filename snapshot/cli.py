"""The ``snap`` command: every store operation, for people and for scripts (``--json``).

Exit status: 0 on success, 1 on failure (one ``snap: error: ...`` line on stderr), 2 on a usage
error. With ``--json`` stdout holds exactly one JSON document. Output cut short by a closed
pipe (``snap diff | head -1``) ends quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from snapshot.defaults import DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_FILE_SIZE, LATEST, WORKTREE_NAME

#: Each command and what it does, in the order ``snap --help`` lists them.
COMMANDS = {
    "capture": "capture the tree",
    "list": "list snapshots, newest first",
    "show": "show one snapshot",
    "diff": "show changes",
    "restore": "restore the whole tree",
    "revert": "restore some paths",
    "cat": "print a file of a snapshot",
    "gc": "remove old snapshots",
    "verify": "check the store",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snap`` with ``argv`` (default: the process's arguments); return the exit status."""
    args = parse_args(argv)
    from snapshot.commands import run  # the store and its libraries, only past parsing

    return run(args)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line; usage errors exit with status 2.

    Only the named command's parser is built, so ``snap --help`` stays as quick as Python.
    """
    top = _top_parser()
    args = top.parse_args(argv)
    if args.command is None:
        top.error("the following arguments are required: COMMAND")
    rest = args.__dict__.pop("rest")
    return _command_parser(args.command).parse_args(rest, namespace=args)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help layout, sized without importing ``shutil`` (4 ms of ``snap --help``)."""

    def __init__(self, prog: str) -> None:
        try:
            columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
        except (ValueError, OSError):
            columns = 80
        super().__init__(prog, width=max(columns, 40) - 2)


def _top_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<10} {text}" for name, text in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="snap",
        description="Snapshots of a working tree, kept in Git outside the tree.",
        usage="snap [-h] [-C WORKTREE] [--store DIR] [--json] [--lock-timeout SECONDS] COMMAND ...",
        epilog=f"commands:\n{listing}\n\nsee `snap COMMAND --help` for each one's options",
        formatter_class=_Formatter,
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
    parser.add_argument(
        "command", nargs="?", choices=COMMANDS, metavar="COMMAND", help="what to do"
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _command_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"snap {name}", description=COMMANDS[name], formatter_class=_Formatter
    )
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
    )
    arguments = _COMMAND_ARGUMENTS.get(name)
    if arguments is not None:
        arguments(parser)
    return parser


def _capture_arguments(capture: argparse.ArgumentParser) -> None:
    capture.add_argument("-m", "--message", help="a message kept with the snapshot")
    capture.add_argument(
        "--paths-from",
        metavar="FILE",
        help="read again only the paths listed in FILE (one per line; - reads stdin), "
        "carrying every other path from the newest snapshot",
    )
    capture.add_argument(
        "-z", dest="nul", action="store_true", help="the --paths-from list is NUL-separated"
    )
    capture.add_argument(
        "--max-file-size",
        type=_size,
        default=None,
        metavar="BYTES",
        help=f"skip new files larger than this (default {DEFAULT_MAX_FILE_SIZE})",
    )


def _show_arguments(show: argparse.ArgumentParser) -> None:
    show.add_argument("id")


def _diff_arguments(diff: argparse.ArgumentParser) -> None:
    diff.add_argument("from_ref", nargs="?", default=LATEST, metavar="FROM")
    diff.add_argument("to_ref", nargs="?", default=WORKTREE_NAME, metavar="TO")
    form = diff.add_mutually_exclusive_group()
    form.add_argument("--name-status", action="store_true", help="STATUS<TAB>PATH lines")
    form.add_argument("--name-only", action="store_true", help="the changed paths")
    form.add_argument("--stat", action="store_true", help="a diffstat")
    form.add_argument("--numstat", action="store_true", help="ADDED<TAB>DELETED<TAB>PATH lines")
    diff.add_argument("-z", action="store_true", help="NUL-terminated records")
    diff.add_argument("--contents", action="store_true", help="with --json: before and after")


def _restore_arguments(restore: argparse.ArgumentParser) -> None:
    restore.add_argument("id")
    restore.add_argument("--dry-run", action="store_true", help="only say what would change")


def _revert_arguments(revert: argparse.ArgumentParser) -> None:
    revert.add_argument("id")
    revert.add_argument("paths", nargs="+", metavar="PATH")
    revert.add_argument("--dry-run", action="store_true", help="only say what would change")


def _cat_arguments(cat: argparse.ArgumentParser) -> None:
    cat.add_argument("id")
    cat.add_argument("path", metavar="PATH")


def _gc_arguments(gc: argparse.ArgumentParser) -> None:
    gc.add_argument("--keep-last", type=_count, metavar="N", help="keep the N newest")
    gc.add_argument(
        "--older-than", type=_duration, metavar="DURATION", help="remove older ones (7d)"
    )


_COMMAND_ARGUMENTS = {
    "capture": _capture_arguments,
    "show": _show_arguments,
    "diff": _diff_arguments,
    "restore": _restore_arguments,
    "revert": _revert_arguments,
    "cat": _cat_arguments,
    "gc": _gc_arguments,
}


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
    from snapshot.errors import SnapError
    from snapshot.retention import parse_duration

    try:
        return parse_duration(text)
    except SnapError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
