"""Reading snapshots in-process with pygit2: one repository handle, no process per file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def flatten(repo: pygit2.Repository, tree_id: str, prefix: bytes = b"") -> dict[bytes, Entry]:
    """Every file of a tree, by its path in bytes (paths as the file system spells them),
    each path starting with ``prefix``."""
    entries: dict[bytes, Entry] = {}
    stack: list[tuple[bytes, pygit2.Tree]] = [(prefix, repo[tree_id].peel(pygit2.Tree))]
    while stack:
        prefix, tree = stack.pop()
        for item in tree:
            path = prefix + (item.raw_name or b"")
            if item.filemode == TREE:
                stack.append((path + b"/", repo[item.id].peel(pygit2.Tree)))
            else:
                entries[path] = Entry(item.filemode, str(item.id))
    return entries


def subtree(repo: pygit2.Repository, tree_id: str, folder: bytes) -> dict[bytes, Entry]:
    """Every file under ``folder`` in a tree, by its full path; empty if no such folder."""
    tree = repo[tree_id].peel(pygit2.Tree)
    for part in folder.split(b"/"):
        found = next((item for item in tree if item.raw_name == part), None)
        if found is None or found.filemode != TREE:
            return {}
        tree = repo[found.id].peel(pygit2.Tree)
    return flatten(repo, str(tree.id), folder + b"/")


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


def edit_tree(
    repo: pygit2.Repository,
    base: str,
    removals: Iterable[bytes],
    puts: Mapping[bytes, Entry],
) -> str:
    """A new tree: ``base`` with each removal (a path and all under it) gone, then ``puts``.

    Only the trees along the edited paths are read and written; a folder left empty goes, as
    Git stores no empty folders. Names are raw bytes, so any name a file system allows works.
    """
    cut = [path.split(b"/") for path in removals]
    put = [(path.split(b"/"), entry) for path, entry in puts.items()]
    return _rewrite(repo, base, cut, put) or str(repo.odb.write(pygit2.enums.ObjectType.TREE, b""))


def _rewrite(
    repo: pygit2.Repository,
    tree_id: str | None,
    cut: list[list[bytes]],
    put: list[tuple[list[bytes], Entry]],
) -> str | None:
    """One level of :func:`edit_tree`: the new tree's id, or None if it is left empty."""
    entries: dict[bytes, tuple[int, bytes]] = {}
    if tree_id is not None:
        for item in repo[tree_id].peel(pygit2.Tree):
            entries[item.raw_name or b""] = (item.filemode, item.id.raw)
    below_cut: dict[bytes, list[list[bytes]]] = {}
    below_put: dict[bytes, list[tuple[list[bytes], Entry]]] = {}
    for parts in cut:
        if len(parts) == 1:
            entries.pop(parts[0], None)
        else:
            below_cut.setdefault(parts[0], []).append(parts[1:])
    for parts, entry in put:
        if len(parts) == 1:
            entries[parts[0]] = (entry.mode, bytes.fromhex(entry.oid))
        else:
            below_put.setdefault(parts[0], []).append((parts[1:], entry))
    for name in below_cut.keys() | below_put.keys():
        current = entries.get(name)
        is_tree = current is not None and current[0] == TREE
        if not is_tree and name not in below_put:
            continue  # nothing to cut below a file or a gap
        child = _rewrite(
            repo,
            current[1].hex() if current is not None and is_tree else None,
            below_cut.get(name, []),
            below_put.get(name, []),
        )
        if child is None:
            entries.pop(name, None)
        else:
            entries[name] = (TREE, bytes.fromhex(child))
    if not entries:
        return None
    # Git orders a tree's entries by name, a folder's name as if it ended in "/".
    ordered = sorted(
        entries.items(), key=lambda item: item[0] + b"/" if item[1][0] == TREE else item[0]
    )
    data = b"".join(b"%o %s\0%s" % (mode, name, oid) for name, (mode, oid) in ordered)
    return str(repo.odb.write(pygit2.enums.ObjectType.TREE, data))
