"""The model of what the store must do, written from the specification alone.

A working tree is a mapping ``path -> File | Link`` (folders implied) plus the set of folders
that hold a nested Git repository. The model says, for any such tree, what a capture holds
and skips, what a restore or revert writes, deletes and keeps, and what a diff lists. It never
looks at the store's answers: the tests compare those with it.

Ignore rules are a fixed pair of patterns, switched on and off by the content of the tree's
top-level ``.gitignore``; the project's own Git tracks a fixed set of files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ._support import File, Link, Node

#: The store's size limit in the model tests.
LIMIT = 4096
#: The ignore patterns a ``.gitignore`` may hold (one per line), and nothing else.
PATTERNS = (b"*.log", b"ignored/")
#: Files the project's own Git tracks (committed at set-up).
PROJECT_TRACKED = frozenset({b"tracked.log"})

SKIP_LARGE = "large"
SKIP_NESTED = "nested"

Tree = dict[bytes, Node]


def rules_of(tree: Mapping[bytes, Node]) -> frozenset[bytes]:
    """The ignore patterns in force: the lines of the top-level ``.gitignore``."""
    node = tree.get(b".gitignore")
    if not isinstance(node, File):
        return frozenset()
    lines = frozenset(line for line in node.data.split(b"\n") if line)
    assert lines <= set(PATTERNS), f"unexpected .gitignore {node.data!r}"
    return lines


def gitignore_bytes(patterns: Iterable[bytes]) -> bytes:
    """The ``.gitignore`` content for a set of patterns."""
    return b"".join(p + b"\n" for p in PATTERNS if p in set(patterns))


def is_ignored(path: bytes, rules: frozenset[bytes], *, directory: bool = False) -> bool:
    """Whether Git's ignore rules match ``path`` or one of its folders."""
    parts = path.split(b"/")
    for depth, part in enumerate(parts):
        leaf = depth == len(parts) - 1
        if b"*.log" in rules and part.endswith(b".log"):
            return True
        if b"ignored/" in rules and part == b"ignored" and (not leaf or directory):
            return True
    return False


def ancestors(path: bytes) -> list[bytes]:
    """The folders holding ``path``, outermost first."""
    parts = path.split(b"/")
    return [b"/".join(parts[:depth]) for depth in range(1, len(parts))]


def under(path: bytes, folder: bytes) -> bool:
    """Whether ``path`` lies inside ``folder``."""
    return path.startswith(folder + b"/")


def is_large(node: Node) -> bool:
    """A regular file over the size limit (links never are)."""
    return isinstance(node, File) and len(node.data) > LIMIT


@dataclass
class Capture:
    """What a capture holds, and what it skips (path -> ``large`` or ``nested``)."""

    entries: Tree
    skipped: dict[bytes, str] = field(default_factory=dict)


def model_capture(
    tree: Mapping[bytes, Node],
    nested: Iterable[bytes],
    held: Iterable[bytes],
    *,
    forced: Iterable[bytes] = (),
) -> Capture:
    """What a capture of ``tree`` must hold, given what the last capture held (``held``).

    From the specification: ignored files are not captured unless the project's Git tracks
    them; a new regular file over the limit is skipped unless the last capture held it (or a
    restore just wrote it: ``forced``) or the project tracks it; a nested repository is
    captured as its files (without ``.git``) when the last capture held files inside it,
    otherwise reported as skipped. (The specification allows either for a nested repository;
    the model predicts which one, as Git decides it: by whether the index holds files there.)
    """
    rules = rules_of(tree)
    # What the last capture held and is still there, unless an ignore rule matches it now.
    live_held = {
        path
        for path in held
        if path in tree and (path in PROJECT_TRACKED or not is_ignored(path, rules))
    }
    forced_set = set(forced)
    skipped: dict[bytes, str] = {}
    skipped_repos: list[bytes] = []
    for repo in sorted(nested):
        if is_ignored(repo, rules, directory=True):
            continue
        if any(under(repo, s) for s in skipped_repos):
            continue
        if any(under(path, repo) for path in live_held):
            continue  # captured as its files
        skipped_repos.append(repo)
        skipped[repo] = SKIP_NESTED
    entries: Tree = {}
    for path, node in tree.items():
        if any(under(path, repo) for repo in skipped_repos):
            continue
        tracked = path in PROJECT_TRACKED
        if is_ignored(path, rules) and not tracked:
            continue
        if is_large(node) and not (tracked or path in live_held or path in forced_set):
            skipped[path] = SKIP_LARGE
            continue
        entries[path] = node
    # Files a restore just wrote are taken by name, even inside a nested repository whose
    # files the capture otherwise skips (``git add`` of a path names it, whatever is around).
    for path in forced_set - entries.keys():
        if path in tree and (path in PROJECT_TRACKED or not is_ignored(path, rules)):
            entries[path] = tree[path]
    return Capture(entries, skipped)


@dataclass
class Plan:
    """What a restore or revert must do."""

    writes: list[bytes]
    deletes: list[bytes]
    #: Target paths that something uncaptured stands in the way of (not written).
    blocked: list[bytes]
    #: Skipped paths the operation covers (reported as kept).
    skipped: list[bytes]


def in_scope_of(scope: Iterable[bytes] | None) -> Callable[[bytes], bool]:
    """The predicate "this path is one a revert of ``scope`` covers" (all paths: a restore)."""
    if scope is None:
        return lambda path: True
    named = list(scope)
    return lambda path: any(path == q or under(path, q) for q in named)


def model_plan(
    tree: Mapping[bytes, Node],
    nested: Iterable[bytes],
    current: Capture,
    target: Mapping[bytes, Node],
    scope: Iterable[bytes] | None = None,
) -> Plan:
    """What a restore (``scope=None``) or revert to ``target`` must do.

    ``current`` is the capture the operation takes first (its undo). Only what that capture
    holds is deleted or overwritten; anything uncaptured (ignored, skipped, a nested
    repository's ``.git``) at a target path, at one of its folders, or inside a folder that
    the target has as a file, blocks that path.
    """
    in_scope = in_scope_of(scope)
    held = current.entries
    deletes = sorted(p for p in held if p not in target and in_scope(p))
    deleting = set(deletes)
    blockers = {p for p in tree if p not in held}
    blockers |= {repo + b"/.git" for repo in nested}
    blockers |= set(current.skipped)
    writes, blocked = [], []
    for path in sorted(target):
        if not in_scope(path) or held.get(path) == target[path]:
            continue
        stands = any(b == path or under(path, b) or under(b, path) for b in blockers)
        stands = stands or any(a in held and a not in deleting for a in ancestors(path))
        (blocked if stands else writes).append(path)
    skipped = sorted(p for p in current.skipped if in_scope(p))
    return Plan(writes=writes, deletes=deletes, blocked=blocked, skipped=skipped)


def apply_plan(tree: Mapping[bytes, Node], plan: Plan, target: Mapping[bytes, Node]) -> Tree:
    """The tree after a plan is carried out."""
    result = {p: n for p, n in tree.items() if p not in set(plan.deletes)}
    for path in plan.writes:
        assert not any(a in result for a in ancestors(path)), path
        assert not any(under(p, path) for p in result), path
        result[path] = target[path]
    return result


def kind(node: Node) -> str:
    """What a type change compares: a file or a link."""
    return "link" if isinstance(node, Link) else "file"


def model_diff(old: Mapping[bytes, Node], new: Mapping[bytes, Node]) -> list[tuple[bytes, str]]:
    """Every path that differs, in Git's order, with its status."""
    changes = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        if before is None:
            changes.append((path, "added"))
        elif after is None:
            changes.append((path, "deleted"))
        elif kind(before) != kind(after):
            changes.append((path, "type-changed"))
        else:
            changes.append((path, "modified"))
    return changes


LETTERS = {"added": b"A", "deleted": b"D", "modified": b"M", "type-changed": b"T"}


def name_status_z(changes: Iterable[tuple[bytes, str]]) -> bytes:
    """``--name-status -z`` output for a list of changes."""
    return b"".join(LETTERS[status] + b"\0" + path + b"\0" for path, status in changes)


def gc_removals(
    ids_newest_first: list[str], keep_last: int | None, older_than: float | None
) -> list[str]:
    """Which snapshots a gc policy removes, when every snapshot is younger than an hour.

    ``--keep-last N`` alone keeps the N newest; ``--older-than D`` alone removes those older
    than D (``0s``: all); both: only what both would remove; neither: ``--older-than 7d``.
    """
    if keep_last is None and older_than is None:
        older_than = 7 * 86400.0
    removed = []
    for position, snapshot_id in enumerate(ids_newest_first):
        votes = []
        if keep_last is not None:
            votes.append(position >= keep_last)
        if older_than is not None:
            votes.append(older_than == 0)  # every snapshot here is minutes old
        if all(votes):
            removed.append(snapshot_id)
    return removed
