"""Diffs between two trees, in-process: Git's patch format, name-status, stat and structure."""

from __future__ import annotations

import os

import attrs
import pygit2

from snapshot.models import FileChange

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
    """Every path that differs between two trees, with line counts and Git's patch text.

    libgit2 walks only the subtrees that differ, so the cost follows the change, not the
    tree. A type change (file to link) comes as a deletion and an addition of one path, as
    Git prints it; the pair is reported as one ``type-changed`` path.
    """
    sides: dict[bytes, list[str | None]] = {}  # path -> [old blob, new blob]
    split: set[bytes] = set()  # paths seen as both a deletion and an addition
    stats: dict[bytes, list[int]] = {}
    binary: set[bytes] = set()
    chunks: list[bytes] = []
    diff = repo[old_tree].peel(pygit2.Tree).diff_to_tree(repo[new_tree].peel(pygit2.Tree))
    for patch in diff:
        if patch is None:
            continue
        delta = patch.delta
        deleted = delta.status == pygit2.enums.DeltaStatus.DELETED
        added = delta.status == pygit2.enums.DeltaStatus.ADDED
        path = delta.old_file.raw_path if deleted else delta.new_file.raw_path
        if path in sides and (added or deleted):
            split.add(path)
        side = sides.setdefault(path, [None, None])
        if not added:
            side[0] = str(delta.old_file.id)
        if not deleted:
            side[1] = str(delta.new_file.id)
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
    for path, (before_id, after_id) in sorted(sides.items()):
        additions, deletions = stats[path]
        is_binary = path in binary
        if before_id is None:
            status = "added"
        elif after_id is None:
            status = "deleted"
        elif path in split:
            status = "type-changed"
        else:
            status = "modified"
        before = after = None
        if contents and not is_binary:
            before = _text(repo, before_id)
            after = _text(repo, after_id)
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


def _text(repo: pygit2.Repository, oid: str | None) -> str | None:
    if oid is None:
        return None
    data = repo[oid].read_raw()
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
