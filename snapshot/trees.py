"""Reading snapshots in-process with pygit2: one repository handle, no process per file."""

from __future__ import annotations

from pathlib import Path

import attrs
import pygit2

#: Git's file modes, by kind.
REGULAR = 0o100644
EXECUTABLE = 0o100755
SYMLINK = 0o120000
GITLINK = 0o160000
TREE = 0o040000


@attrs.frozen
class Entry:
    """One file of a tree: its mode and the id of its blob."""

    mode: int
    oid: str

    @property
    def kind(self) -> str:
        """``file``, ``link`` or ``gitlink``: what a type change compares."""
        if self.mode == SYMLINK:
            return "link"
        if self.mode == GITLINK:
            return "gitlink"
        return "file"


def open_repo(git_dir: Path, quarantine: Path | None = None) -> pygit2.Repository:
    """A handle on the store; ``quarantine`` adds a scratch object folder to read from."""
    repo = pygit2.Repository(str(git_dir), pygit2.enums.RepositoryOpenFlag.BARE)
    if quarantine is not None:
        repo.odb.add_disk_alternate(str(quarantine))
    return repo


def flatten(repo: pygit2.Repository, tree_id: str) -> dict[bytes, Entry]:
    """Every file of a tree, by its path in bytes (paths as the file system spells them)."""
    entries: dict[bytes, Entry] = {}
    stack: list[tuple[bytes, pygit2.Tree]] = [(b"", repo[tree_id].peel(pygit2.Tree))]
    while stack:
        prefix, tree = stack.pop()
        for item in tree:
            path = prefix + (item.raw_name or b"")
            if item.filemode == TREE:
                stack.append((path + b"/", repo[item.id].peel(pygit2.Tree)))
            else:
                entries[path] = Entry(item.filemode, str(item.id))
    return entries


def read_blob(repo: pygit2.Repository, oid: str) -> bytes:
    """The bytes of one blob."""
    return repo[oid].read_raw()


def lookup(repo: pygit2.Repository, tree_id: str, path: bytes) -> Entry | None:
    """The entry at ``path`` in a tree, or ``None``."""
    tree = repo[tree_id].peel(pygit2.Tree)
    parts = path.split(b"/")
    for depth, part in enumerate(parts):
        found = next((item for item in tree if item.raw_name == part), None)
        if found is None:
            return None
        if depth == len(parts) - 1:
            if found.filemode == TREE:
                return None
            return Entry(found.filemode, str(found.id))
        if found.filemode != TREE:
            return None
        tree = repo[found.id].peel(pygit2.Tree)
    return None
