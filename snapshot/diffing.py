"""Diffs between two trees, in-process: Git's patch format, name-status, stat and structure."""

from __future__ import annotations

import os

import attrs
import pygit2

from snapshot.models import FileChange
from snapshot.trees import Entry, flatten

STATUS_LETTER = {"added": "A", "deleted": "D", "modified": "M", "type-changed": "T"}


@attrs.frozen
class TreeDiff:
    """The changes from one tree to another, with the patch text Git would print."""

    changes: tuple[FileChange, ...]
    patch: bytes

    def name_status(self, *, nul: bool = False) -> bytes:
        """``STATUS<TAB>PATH`` records as ``git diff --name-status`` prints (``-z``: NULs)."""
        if nul:
            return b"".join(
                STATUS_LETTER[c.status].encode() + b"\0" + os.fsencode(c.path) + b"\0"
                for c in self.changes
            )
        return b"".join(
            STATUS_LETTER[c.status].encode() + b"\t" + _quoted(c.path) + b"\n" for c in self.changes
        )

    def numstat(self, *, nul: bool = False) -> bytes:
        """``ADDED<TAB>DELETED<TAB>PATH`` records as ``git diff --numstat`` prints them."""
        records = []
        for change in self.changes:
            counts = (
                b"-\t-\t" if change.binary else b"%d\t%d\t" % (change.additions, change.deletions)
            )
            if nul:
                records.append(counts + os.fsencode(change.path) + b"\0")
            else:
                records.append(counts + _quoted(change.path) + b"\n")
        return b"".join(records)

    def name_only(self) -> list[str]:
        """The paths that changed."""
        return [change.path for change in self.changes]

    def stat(self) -> bytes:
        """A ``git diff --stat`` summary."""
        if not self.changes:
            return b""
        width = max(len(_quoted(c.path)) for c in self.changes)
        counts = [c.additions + c.deletions for c in self.changes]
        most = max(counts) or 1
        scale = min(1.0, 50 / most)
        digits = len(str(most))
        lines = []
        for change, count in zip(self.changes, counts, strict=True):
            name = _quoted(change.path).ljust(width)
            if change.binary:
                lines.append(b" " + name + b" | Bin\n")
                continue
            plus = round(change.additions * scale)
            minus = round(change.deletions * scale)
            bar = b"+" * plus + b"-" * minus
            lines.append(
                b" " + name + b" | " + str(count).encode().rjust(digits) + b" " + bar + b"\n"
            )
        added = sum(c.additions for c in self.changes)
        deleted = sum(c.deletions for c in self.changes)
        files = len(self.changes)
        summary = f" {files} file{'s' if files != 1 else ''} changed"
        if added:
            summary += f", {added} insertion{'s' if added != 1 else ''}(+)"
        if deleted:
            summary += f", {deleted} deletion{'s' if deleted != 1 else ''}(-)"
        return b"".join(lines) + summary.encode() + b"\n"


def diff_trees(
    repo: pygit2.Repository, old_tree: str, new_tree: str, *, contents: bool = False
) -> TreeDiff:
    """Every path that differs between two trees, with line counts and Git's patch text."""
    old = flatten(repo, old_tree)
    new = flatten(repo, new_tree)
    statuses = _statuses(old, new)
    stats: dict[bytes, list[int]] = {}
    binary: set[bytes] = set()
    chunks: list[bytes] = []
    if statuses:
        diff = repo[old_tree].peel(pygit2.Tree).diff_to_tree(repo[new_tree].peel(pygit2.Tree))
        for patch in diff:
            if patch is None:
                continue
            delta = patch.delta
            path = delta.new_file.raw_path if delta.status != 2 else delta.old_file.raw_path
            _, additions, deletions = patch.line_stats
            counts = stats.setdefault(path, [0, 0])
            counts[0] += additions
            counts[1] += deletions
            if delta.is_binary:
                binary.add(path)
            chunks.append(
                _git_header_tabs(patch.data, delta.old_file.raw_path, delta.new_file.raw_path)
            )
    changes = []
    for path, status in sorted(statuses.items()):
        additions, deletions = stats.get(path, (0, 0))
        is_binary = path in binary
        before = after = None
        if contents and not is_binary:
            before = _text(repo, old.get(path))
            after = _text(repo, new.get(path))
        changes.append(
            FileChange(
                path=os.fsdecode(path),
                status=status,
                additions=0 if is_binary else additions,
                deletions=0 if is_binary else deletions,
                binary=is_binary,
                before=before,
                after=after,
            )
        )
    return TreeDiff(changes=tuple(changes), patch=b"".join(chunks))


def _statuses(old: dict[bytes, Entry], new: dict[bytes, Entry]) -> dict[bytes, str]:
    statuses = {}
    for path in old.keys() | new.keys():
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        if before is None:
            statuses[path] = "added"
        elif after is None:
            statuses[path] = "deleted"
        elif before.kind != after.kind:
            statuses[path] = "type-changed"
        else:
            statuses[path] = "modified"
    return statuses


def _text(repo: pygit2.Repository, entry: Entry | None) -> str | None:
    if entry is None:
        return None
    data = repo[entry.oid].read_raw()
    if b"\0" in data[:8000]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _git_header_tabs(data: bytes, old_path: bytes, new_path: bytes) -> bytes:
    """Git ends a ``---``/``+++`` line with a tab when its file name holds a space."""
    if b" " not in old_path and b" " not in new_path:
        return data
    lines = data.split(b"\n")
    for number, line in enumerate(lines):
        if line.startswith((b"@@", b"Binary files")):
            break
        old_line = line.startswith((b"--- a/", b'--- "a/')) and b" " in old_path
        new_line = line.startswith((b"+++ b/", b'+++ "b/')) and b" " in new_path
        if old_line or new_line:
            lines[number] = line + b"\t"
    return b"\n".join(lines)


def _quoted(path: str) -> bytes:
    """A path as ``git`` prints it by default: C-quoted, with octal escapes, when needed."""
    raw = os.fsencode(path)
    if not any(byte in b'"\\\t\n' or byte < 0x20 or byte >= 0x7F for byte in raw):
        return raw
    out = bytearray(b'"')
    escapes = {0x22: b'\\"', 0x5C: b"\\\\", 0x09: b"\\t", 0x0A: b"\\n", 0x0D: b"\\r"}
    for byte in raw:
        if byte in escapes:
            out += escapes[byte]
        elif byte < 0x20 or byte >= 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)
