"""Whether the ignore rules that apply to held files can have changed since the last check.

A full capture must let go of held files that an ignore rule now matches, and take the ignored
files the project's Git tracks. Asking Git both (``ls-files --cached --ignored``, in the store
and in the project) reads every ignore file of the tree for every held path: on a tree of 100k
files with a ``.gitignore`` that costs more than the rest of a warm capture. Only the
``.gitignore`` files of folders that hold files, the exclude files and the project's index can
change the answers, so their stat is recorded with the answers; while none has changed, the
answers stand and the questions are not asked again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

#: Recorded for a file whose stat was not taken before the check: never matches, so the next
#: capture checks again rather than trust a stat taken after Git read the file.
UNKNOWN = "unknown"
_VERSION = 1

Stamp = list[int] | str | None


@attrs.frozen
class IgnoreCheck:
    """The answers of the last check, and the stat of every file that could change them."""

    #: Folders holding held files (``b""`` is the top); their ``.gitignore`` files count.
    folders: frozenset[bytes]
    #: By path: (inode, size, mtime, ctime), ``None`` if absent, or :data:`UNKNOWN`.
    stamps: dict[str, Stamp]
    #: Ignored files the project's Git tracks (taken whatever the ignore rules say).
    tracked_ignored: tuple[bytes, ...]


def sources(worktree: Path, folders: Iterable[bytes], files: Sequence[Path | None]) -> list[str]:
    """Every file whose change could change the answers: each folder's ``.gitignore``, and
    ``files`` (the exclude files, the project's index)."""
    root = os.fsencode(worktree)
    paths = [os.fsdecode(os.path.join(root, folder, b".gitignore")) for folder in folders]
    return paths + [os.fspath(f) for f in files if f is not None]


def stamp_all(paths: Iterable[str]) -> dict[str, Stamp]:
    """The stat of each path, as :class:`IgnoreCheck` records it."""
    stamps: dict[str, Stamp] = {}
    for path in paths:
        try:
            info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            stamps[path] = None
        except OSError:  # a link loop, no permission: cannot tell, so never trusted
            stamps[path] = UNKNOWN
        else:
            stamps[path] = [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    return stamps


def folders_of(paths: Iterable[bytes]) -> set[bytes]:
    """The folders holding ``paths`` and all their parents, the top (``b""``) included."""
    found = {b""}
    for path in paths:
        parts = path.split(b"/")
        for depth in range(1, len(parts)):
            found.add(b"/".join(parts[:depth]))
    return found


def load(path: Path) -> IgnoreCheck | None:
    """The recorded check, or None if there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text())
        if data.get("version") != _VERSION:
            return None
        return IgnoreCheck(
            folders=frozenset(os.fsencode(f) for f in data["folders"]),
            stamps=dict(data["stamps"]),
            tracked_ignored=tuple(os.fsencode(p) for p in data["tracked_ignored"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save(path: Path, check: IgnoreCheck) -> None:
    """Record a check, atomically."""
    data = {
        "version": _VERSION,
        "folders": sorted(os.fsdecode(f) for f in check.folders),
        "stamps": check.stamps,
        "tracked_ignored": [os.fsdecode(p) for p in check.tracked_ignored],
    }
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(data, ensure_ascii=True))
    os.replace(temp, path)


def forget(path: Path) -> None:
    """Drop the record, so that the next capture checks."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
