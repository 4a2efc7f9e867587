"""A stateful model test of the store: random trees, captures, restores, reverts, gc and diffs.

Hypothesis drives a real working tree (a Git checkout with hostile file names, links, ignored
files, files over the size limit and nested repositories) and a real store, and after every
step compares both with the model in :mod:`.model`, which is written from the specification
alone. The project's ``.git`` and a folder outside the tree are fingerprinted byte for byte.

Settings (examples, steps) come from the profile: ``HYPOTHESIS_PROFILE=long`` for a release.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from snapshot import BadPath, SyncStore
from snapshot.models import RestoreResult, RevertResult
from snapshot.trees import flatten, open_repo

from ._support import (
    CliForkServer,
    File,
    Link,
    Node,
    fingerprint,
    fingerprint_changes,
    git,
    node_bytes,
    read_tree,
    remove,
    tree_id,
    write_node,
)
from .model import (
    LIMIT,
    PATTERNS,
    SKIP_LARGE,
    SKIP_NESTED,
    Capture,
    Plan,
    Tree,
    ancestors,
    apply_plan,
    gc_removals,
    gitignore_bytes,
    is_ignored,
    model_capture,
    model_diff,
    model_plan,
    name_status_z,
    rules_of,
    under,
)

#: File-name parts: every kind of hostile name, plus names the ignore rules and the project's
#: own Git care about. Few enough that paths collide (a file where a folder was, and back).
NAMES = (
    b"a",
    b"b c",
    b"new\nline",
    b"tab\tx",
    b"-dash",
    b"\xff\xfe",
    b":(exclude)x",
    b"*",
    b"?",
    b"[",
    b"back\\slash",
    b"trail ",
    b"x.log",
    b"ignored",
    b"tracked.log",
    b"d",
)
_SHORT = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)
_DEEP = st.lists(st.sampled_from(NAMES), min_size=4, max_size=10)
FRESH_PATHS = st.one_of(_SHORT, _SHORT, _DEEP).map(b"/".join)

_LINES = st.lists(
    st.sampled_from([b"alpha", b"beta", b"gamma delta", b"", b"\xff\xfe", b"tab\tline", b"x" * 30]),
    max_size=8,
)
CONTENTS = st.one_of(
    st.just(b""),
    _LINES.map(lambda lines: b"".join(line + b"\n" for line in lines)),
    _LINES.map(b"\n".join),
    st.binary(max_size=48),
    st.binary(min_size=1, max_size=32).map(lambda data: b"\0" + data),
)
LARGE = st.tuples(st.integers(LIMIT + 1, LIMIT + 1500), st.binary(min_size=1, max_size=8)).map(
    lambda t: (t[1] * (t[0] // len(t[1]) + 1))[: t[0]]
)
PLAIN_TEXT = frozenset(range(0x20, 0x7F)) | {0x0A, 0x09}


def _is_plain_text(data: bytes) -> bool:
    return all(byte in PLAIN_TEXT for byte in data)


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _tree_difference(real: Mapping[bytes, Node], model: Mapping[bytes, Node]) -> list[str]:
    lines = [f"only on disk: {p!r} = {real[p]!r}"[:200] for p in sorted(real.keys() - model.keys())]
    lines += [
        f"only in model: {p!r} = {model[p]!r}"[:200] for p in sorted(model.keys() - real.keys())
    ]
    lines += [
        f"differs: {p!r}: disk {real[p]!r} model {model[p]!r}"[:300]
        for p in sorted(real.keys() & model.keys())
        if real[p] != model[p]
    ]
    return lines


class StoreMachine(RuleBasedStateMachine):
    """A working tree, its store, and the model of both."""

    scratch: ClassVar[Path]
    server: ClassVar[CliForkServer]
    #: Counts over a whole run (all examples, all phases), reported by the test.
    examples: ClassVar[int] = 0
    checks: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        StoreMachine.examples += 1
        self.base = Path(tempfile.mkdtemp(prefix="model-", dir=self.scratch))
        self.root = self.base / "tree"
        self.store_dir = self.base / "store"
        self.outside = self.base / "outside"
        self.root.mkdir()
        self.outside.mkdir()
        (self.outside / "victim").write_bytes(b"outside the tree\n")
        git("init", "-q", cwd=self.root)
        (self.root / "tracked.log").write_bytes(b"tracked\n")
        git("add", "tracked.log", cwd=self.root)
        git("commit", "-q", "-m", "project", cwd=self.root)
        self.tree: Tree = {b"tracked.log": File(b"tracked\n")}
        self.nested: set[bytes] = set()
        self.held: frozenset[bytes] = frozenset()
        self.snaps: dict[str, Tree] = {}
        self.skips: dict[str, set[bytes]] = {}
        self.last_id = ""
        self.live_planted: set[str] = set()
        self.store = SyncStore.open(
            self.root, store=self.store_dir, max_file_size=LIMIT, lock_timeout=60
        )
        self.project_print = fingerprint(self.root / ".git")
        self.outside_print = fingerprint(self.outside)

    def teardown(self) -> None:
        remove(self.base)

    # ------------------------------------------------------------------------- the real tree

    def _abs(self, path: bytes) -> bytes:
        return os.path.join(os.fsencode(self.root), path)

    def _folders(self) -> list[bytes]:
        folders = {a for path in self.tree for a in ancestors(path)} | self.nested
        return sorted(folders)

    def _files(self) -> list[bytes]:
        return sorted(p for p, n in self.tree.items() if isinstance(n, File) and p != b".gitignore")

    def _drop_folder(self, folder: bytes) -> None:
        """Remove a folder tree from disk and from the model."""
        remove(self._abs(folder))
        for path in [p for p in self.tree if under(p, folder)]:
            del self.tree[path]
        self.nested = {r for r in self.nested if r != folder and not under(r, folder)}

    def _make_room(self, path: bytes) -> None:
        """Folders for ``path`` (files or links in the way replaced), and nothing at it."""
        for folder in ancestors(path):
            full = self._abs(folder)
            if folder in self.tree:
                os.unlink(full)
                del self.tree[folder]
            if not os.path.lexists(full):
                os.mkdir(full)
        if path in self.tree:
            os.unlink(self._abs(path))
            del self.tree[path]
        elif os.path.lexists(self._abs(path)):
            self._drop_folder(path)

    def _put(self, path: bytes, node: Node) -> None:
        """Make ``path`` hold ``node``; an existing regular file is rewritten in place."""
        old = self.tree.get(path)
        if isinstance(node, File) and isinstance(old, File):
            full = self._abs(path)
            with open(full, "r+b") as handle:
                handle.write(node.data)
                handle.truncate()
            os.chmod(full, 0o755 if node.exe else 0o644)
        else:
            self._make_room(path)
            write_node(self.root, path, node)
        self.tree[path] = node

    def _draw_path(self, data: st.DataObject, *, files: bool = True, folders: bool = True) -> bytes:
        choices: list[st.SearchStrategy[bytes]] = [FRESH_PATHS]
        existing = sorted(p for p in self.tree if p != b".gitignore")
        if files and existing:
            choices.append(st.sampled_from(existing))
        if folders and self._folders():
            choices.append(st.sampled_from(self._folders()))
        return data.draw(st.one_of(choices), label="path")

    # ------------------------------------------------------------------------- tree rules

    @rule(data=st.data(), content=CONTENTS, exe=st.booleans())
    def write_file(self, data: st.DataObject, content: bytes, exe: bool) -> None:
        """Create or overwrite a file (a folder or link in the way is replaced)."""
        self._put(self._draw_path(data), File(content, exe))

    @precondition(lambda self: self._files())
    @rule(data=st.data(), extra=CONTENTS)
    def append(self, data: st.DataObject, extra: bytes) -> None:
        path = data.draw(st.sampled_from(self._files()), label="file")
        old = self.tree[path]
        assert isinstance(old, File)
        with open(self._abs(path), "ab") as handle:
            handle.write(extra)
        self.tree[path] = File(old.data + extra, old.exe)

    @precondition(lambda self: self._files())
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(self._files()), label="file")
        old = self.tree[path]
        assert isinstance(old, File)
        size = data.draw(st.integers(0, len(old.data)), label="size")
        os.truncate(self._abs(path), size)
        self.tree[path] = File(old.data[:size], old.exe)

    @precondition(lambda self: self.tree or self.nested)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        """Delete a file, a link, or a whole folder."""
        path = data.draw(st.sampled_from(sorted(self.tree) + self._folders()), label="victim")
        if path in self.tree:
            os.unlink(self._abs(path))
            del self.tree[path]
        else:
            self._drop_folder(path)

    @precondition(lambda self: any(isinstance(n, File) for n in self.tree.values()))
    @rule(data=st.data(), exe=st.booleans())
    def chmod(self, data: st.DataObject, exe: bool) -> None:
        files = sorted(p for p, n in self.tree.items() if isinstance(n, File))
        path = data.draw(st.sampled_from(files), label="file")
        old = self.tree[path]
        assert isinstance(old, File)
        os.chmod(self._abs(path), 0o755 if exe else 0o644)
        self.tree[path] = File(old.data, exe)

    @rule(data=st.data(), how=st.sampled_from(["inside", "folder", "dangling", "outside", "up"]))
    def make_link(self, data: st.DataObject, how: str) -> None:
        """A symbolic link: to a file or folder inside, to nothing, or out of the tree."""
        path = self._draw_path(data)
        up = b"../" * path.count(b"/")
        if how == "inside" and self.tree:
            target = up + data.draw(st.sampled_from(sorted(self.tree)), label="to")
        elif how == "folder" and self._folders():
            target = up + data.draw(st.sampled_from(self._folders()), label="to")
        elif how == "outside":
            target = os.fsencode(self.outside)
        elif how == "up":
            target = up + b"../outside"
        else:
            target = b"no/such/file"
        self._put(path, Link(target))

    @rule(patterns=st.sets(st.sampled_from(PATTERNS)))
    def set_ignore_rules(self, patterns: set[bytes]) -> None:
        """Rewrite (or remove) the top-level ``.gitignore``."""
        if patterns:
            self._put(b".gitignore", File(gitignore_bytes(patterns)))
        elif b".gitignore" in self.tree:
            os.unlink(self._abs(b".gitignore"))
            del self.tree[b".gitignore"]

    @rule(data=st.data(), content=LARGE, grow=st.booleans())
    def write_large(self, data: st.DataObject, content: bytes, grow: bool) -> None:
        """A file over the size limit: a new one, or an existing one that grows past it."""
        files = self._files()
        if grow and files:
            path = data.draw(st.sampled_from(files), label="file")
            old = self.tree[path]
            assert isinstance(old, File)
            self._put(path, File(old.data + content, old.exe))
        else:
            self._put(self._draw_path(data), File(content))

    @rule(data=st.data(), content=CONTENTS)
    def make_nested_repo(self, data: st.DataObject, content: bytes) -> None:
        """``git init`` a folder (new or existing) of the tree, with a file in it."""
        folder = self._draw_path(data)
        full = self._abs(folder)
        if folder in self.tree or not os.path.isdir(full) or os.path.islink(full):
            self._make_room(folder)
            os.mkdir(full)
        if folder not in self.nested:
            git("init", "-q", "--template=", os.fsdecode(full))
            self.nested.add(folder)
        self._put(folder + b"/a", File(content))

    @rule()
    def plant_stale_locks(self) -> None:
        """Stale ``index.lock`` files: the store's, a dead capture's, and the project's own."""
        (self.store_dir / "index.lock").write_bytes(b"stale")
        scratch = self.store_dir / "snap" / "tmp"
        dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
        token = secrets.token_hex(8)
        for name in (f"capture-index-{dead}-{token}", f"capture-index-{dead}-{token}.lock"):
            (scratch / name).write_bytes(b"left by a capture that was killed")
        live = f"capture-index-{os.getpid()}-{token}.lock"
        (scratch / live).write_bytes(b"another capture of this process, still running")
        self.live_planted.add(live)
        (self.root / ".git" / "index.lock").write_bytes(b"someone else's git")
        self.project_print = fingerprint(self.root / ".git")

    # ------------------------------------------------------------------------- store rules

    def _capture_model(self) -> Capture:
        return model_capture(self.tree, self.nested, self.held)

    def _check_new_id(self, snapshot_id: str) -> None:
        assert snapshot_id not in self.snaps
        assert snapshot_id > self.last_id, (snapshot_id, self.last_id)
        self.last_id = snapshot_id

    def _check_snapshot(
        self, snapshot_id: str, tree: str, skipped: list[tuple[bytes, str]], expected: Capture
    ) -> None:
        """One capture's result against the model: its tree hash and what it skipped."""
        self._check_new_id(snapshot_id)
        want = {
            p: SKIP_LARGE if k == SKIP_LARGE else SKIP_NESTED for p, k in expected.skipped.items()
        }
        got = {}
        for path, reason in skipped:
            got[path] = (
                SKIP_LARGE
                if reason.startswith("new file over the size limit")
                else (SKIP_NESTED if reason.startswith("nested git repository") else reason)
            )
        assert got == want, (got, want)
        if tree != tree_id(expected.entries):
            held = {p: (e.mode, e.oid) for p, e in flatten(open_repo(self.store_dir), tree).items()}
            raise AssertionError(
                f"snapshot {snapshot_id} holds {sorted(held)} but the model says "
                f"{sorted(expected.entries)}"
            )
        self.snaps[snapshot_id] = dict(expected.entries)
        self.skips[snapshot_id] = set(expected.skipped)

    def _check_scratch(self) -> None:
        """A writer leaves no scratch file but those of processes still running."""
        left = set(os.listdir(self.store_dir / "snap" / "tmp")) - self.live_planted
        assert not left, left

    @rule(message=st.one_of(st.none(), st.text(max_size=20)))
    def capture(self, message: str | None) -> None:
        expected = self._capture_model()
        snapshot = self.store.capture(message)
        skipped = [(os.fsencode(s.path), s.reason) for s in snapshot.skipped]
        self._check_snapshot(snapshot.id, snapshot.tree, skipped, expected)
        assert snapshot.message == message
        self.held = frozenset(expected.entries)
        self._check_scratch()

    @precondition(lambda self: self.snaps)
    @rule(data=st.data(), message=st.one_of(st.none(), st.text(max_size=20)))
    def hinted_capture(self, data: st.DataObject, message: str | None) -> None:
        """A capture told which paths changed (some named by a folder above them, plus some
        that did not change) equals a full capture judged against the newest snapshot."""
        newest = max(self.snaps)
        previous = self.snaps[newest]
        expected = model_capture(self.tree, self.nested, previous)
        changed = {
            p
            for p in expected.entries.keys() | previous.keys()
            if expected.entries.get(p) != previous.get(p)
        }
        changed |= set(expected.skipped) ^ self.skips[newest]
        hints: set[bytes] = set()
        for path in sorted(changed):
            folders = ancestors(path)
            if folders and data.draw(st.booleans(), label=f"by folder {path!r}"):
                hints.add(data.draw(st.sampled_from(folders), label="folder"))
            else:
                hints.add(path)
        unchanged = sorted(set(self.tree) | set(self._folders()))
        if unchanged:
            hints |= set(data.draw(st.lists(st.sampled_from(unchanged), max_size=2), label="more"))
        note(f"hints: {sorted(hints)}")
        full = self._hint_needs_full_capture(hints, previous)
        if full:
            expected = self._capture_model()
        snapshot = self.store.capture(message, paths=sorted(hints))
        skipped = [(os.fsencode(s.path), s.reason) for s in snapshot.skipped]
        self._check_snapshot(snapshot.id, snapshot.tree, skipped, expected)
        if full:
            self.held = frozenset(expected.entries)
        # Otherwise the store's index stays the last full capture's, what a full one judges by.
        self._check_scratch()

    def _hint_needs_full_capture(self, hints: set[bytes], previous: Tree) -> bool:
        """A hint on a nested repository the newest snapshot holds files of: what Git takes
        there depends on an index, so the store captures in full."""
        rules = rules_of(self.tree)
        for repo in self.nested:
            if any(is_ignored(a, rules, directory=True) for a in [*ancestors(repo), repo]):
                continue
            if not any(under(path, repo) for path in previous):
                continue
            if any(h == repo or under(h, repo) or under(repo, h) for h in hints):
                return True
        return False

    @rule()
    def capture_from_two_processes(self) -> None:
        """The CLI captures in a second process while this one captures too: both succeed."""
        argv = ["-C", str(self.root), "--store", str(self.store_dir), "--json", "capture"]
        argv += ["--max-file-size", str(LIMIT), "-m", "other process"]
        self.server.start(argv)
        mine = self.store.capture("this process")
        code, out, err = self.server.finish()
        assert code == 0, err.decode(errors="replace")
        theirs = json.loads(out)
        first = self._capture_model()
        second = model_capture(self.tree, self.nested, first.entries)
        results = {
            mine.id: (mine.tree, [(os.fsencode(s.path), s.reason) for s in mine.skipped]),
            theirs["id"]: (
                theirs["tree"],
                [(os.fsencode(s["path"]), s["reason"]) for s in theirs["skipped"]],
            ),
        }
        for snapshot_id, expected in zip(sorted(results), (first, second), strict=True):
            self._check_snapshot(snapshot_id, *results[snapshot_id], expected)
        self.held = frozenset(second.entries)
        self._check_scratch()

    def _draw_ref(self, data: st.DataObject) -> tuple[str, Tree]:
        """A way to name a snapshot (id, prefix, upper case, tree hash, latest) and its tree."""
        snapshot_id = data.draw(st.sampled_from(sorted(self.snaps)), label="snapshot")
        form = data.draw(st.sampled_from(["id", "prefix", "upper", "tree", "latest"]), label="as")
        if form == "latest":
            return "latest", self.snaps[max(self.snaps)]
        target = self.snaps[snapshot_id]
        ref = {
            "id": snapshot_id,
            "prefix": snapshot_id[:12],
            "upper": snapshot_id.upper(),
            "tree": tree_id(target),
        }[form]
        return ref, target

    def _check_plan(self, result: RestoreResult | RevertResult, plan: Plan) -> None:
        """A restore's or revert's report against the model's plan."""
        assert [os.fsencode(p) for p in result.written] == plan.writes
        assert [os.fsencode(p) for p in result.deleted] == plan.deletes
        kept = [os.fsencode(item.path) for item in result.kept]
        missing = set(plan.skipped) - set(kept)
        assert not missing, f"skipped paths not reported as kept: {missing}"
        for path in plan.blocked:
            assert any(k == path or under(path, k) or under(k, path) for k in kept), (
                f"{path!r} was not written, yet nothing standing in its way is reported as kept"
            )
        for path in kept:
            assert path in plan.skipped or any(
                k == path or under(path, k) or under(k, path) for k in plan.blocked
            ), f"{path!r} reported as kept, yet the model knows nothing in the way there"

    def _change(
        self, ref: str, target: Tree, scope: list[bytes] | None
    ) -> RestoreResult | RevertResult:
        """Restore or revert for real; check the result, the undo snapshot, and the tree."""
        current = self._capture_model()
        plan = model_plan(self.tree, self.nested, current, target, scope)
        note(f"plan: {plan}")
        before = dict(self.tree)
        if scope is None:
            result: RestoreResult | RevertResult = self.store.restore(ref)
        else:
            result = self.store.revert(ref, scope)
        self._check_plan(result, plan)
        assert result.undo is not None
        shown = self.store.show(result.undo)
        what = "restore" if scope is None else "revert"
        assert (shown.message or "").startswith(f"before {what}"), shown.message
        skipped = [(os.fsencode(s.path), s.reason) for s in shown.skipped]
        self._check_snapshot(result.undo, shown.tree, skipped, current)
        self.tree = apply_plan(before, plan, target)
        refreshed = model_capture(self.tree, self.nested, current.entries, forced=plan.writes)
        self.held = frozenset(refreshed.entries)
        self._check_scratch()
        real = read_tree(self.root, {b"", *self.nested})
        for path, node in before.items():
            if path not in current.entries:  # ignored or skipped: never touched
                assert real.get(path) == node, f"{what} changed uncaptured {path!r}"
        if scope is None:
            # The specification's own words, independent of the plan: every path of the
            # snapshot is there (unless kept), and whatever else is there was never captured.
            kept = [os.fsencode(item.path) for item in result.kept]
            for path, node in target.items():
                if not any(k == path or under(path, k) or under(k, path) for k in kept):
                    assert real.get(path) == node, path
            for path in real.keys() - target.keys():
                assert path not in current.entries, path
        return result

    @precondition(lambda self: self.snaps)
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        """Restore a snapshot."""
        ref, target = self._draw_ref(data)
        self._change(ref, target, None)

    @precondition(lambda self: self.snaps)
    @rule(data=st.data(), for_real=st.booleans())
    def dry_run_restore(self, data: st.DataObject, for_real: bool) -> None:
        """A dry run changes nothing and says exactly what the real restore then does."""
        ref, target = self._draw_ref(data)
        current = self._capture_model()
        plan = model_plan(self.tree, self.nested, current, target)
        dry = self.store.restore(ref, dry_run=True)
        assert dry.undo is None and dry.dry_run
        self._check_plan(dry, plan)
        assert [s.id for s in self.store.list()] == sorted(self.snaps, reverse=True)
        assert read_tree(self.root, {b"", *self.nested}) == self.tree, "a dry run changed the tree"
        if for_real:
            real = self._change(ref, target, None)
            assert (real.written, real.deleted, real.kept) == (dry.written, dry.deleted, dry.kept)

    @precondition(lambda self: self.snaps)
    @rule(data=st.data())
    def revert(self, data: st.DataObject) -> None:
        """Revert a few paths (files or folders) to a snapshot."""
        ref, target = self._draw_ref(data)
        current = self._capture_model()
        candidates = sorted(
            set(target) | set(current.entries) | {a for p in target for a in ancestors(p)}
        )
        pick = st.sampled_from(candidates) if candidates else FRESH_PATHS
        scope = data.draw(st.lists(st.one_of(pick, pick, FRESH_PATHS), min_size=1, max_size=3))
        scope = list(dict.fromkeys(scope))
        unknown = [
            q for q in scope if not any(p == q or under(p, q) for p in [*target, *current.entries])
        ]
        if unknown:
            count = len(self.snaps)
            with pytest.raises(BadPath):
                self.store.revert(ref, scope)
            listed = [s.id for s in self.store.list()]
            new = [i for i in listed if i not in self.snaps]
            # The specification is silent on whether a refused revert leaves its undo capture;
            # if it does, that capture must be right.
            assert len(new) <= 1 and len(listed) - len(new) == count
            for snapshot_id in new:
                shown = self.store.show(snapshot_id)
                skipped = [(os.fsencode(s.path), s.reason) for s in shown.skipped]
                self._check_snapshot(snapshot_id, shown.tree, skipped, current)
                self.held = frozenset(current.entries)
            return
        self._change(ref, target, scope)

    @precondition(lambda self: self.snaps)
    @rule(
        keep_last=st.one_of(st.none(), st.integers(0, 4)),
        older_than=st.sampled_from([None, 0.0, 3600.0, 7 * 86400.0]),
    )
    def gc(self, keep_last: int | None, older_than: float | None) -> None:
        newest_first = sorted(self.snaps, reverse=True)
        removed = gc_removals(newest_first, keep_last, older_than)
        result = self.store.gc(keep_last=keep_last, older_than=older_than)
        assert list(result.removed) == removed
        assert list(result.kept) == [i for i in newest_first if i not in removed]
        for snapshot_id in removed:
            del self.snaps[snapshot_id]

    def _side(self, ref: str | None) -> Tree:
        return self._capture_model().entries if ref is None else self.snaps[ref]

    @rule(data=st.data())
    def diff(self, data: st.DataObject) -> None:
        """Diff two snapshots, or a snapshot and the tree, either way round."""
        sides: list[str | None] = [None, *sorted(self.snaps)]
        old_ref = data.draw(st.sampled_from(sides), label="from")
        new_ref = data.draw(st.sampled_from(sides), label="to")
        if old_ref is None and new_ref is None:
            return
        old, new = self._side(old_ref), self._side(new_ref)
        expected = model_diff(old, new)
        result = self.store.diff(old_ref, new_ref)
        got = [(os.fsencode(c.path), c.status) for c in result.changes]
        assert got == expected
        assert result.name_status(nul=True) == name_status_z(expected)
        for change in result.changes:
            path = os.fsencode(change.path)
            node = new.get(path) if change.status == "added" else old.get(path)
            if (
                change.status in ("added", "deleted")
                and isinstance(node, File)
                and _is_plain_text(node.data)
            ):
                assert not change.binary, path
                counted = change.additions if change.status == "added" else change.deletions
                assert counted == _line_count(node.data), (path, change)
        if new_ref is None:
            assert [os.fsencode(p) for p in self.store.changed(old_ref)] == [p for p, _ in expected]

    @precondition(lambda self: any(self.snaps.values()))
    @rule(data=st.data())
    def read_back(self, data: st.DataObject) -> None:
        """``cat`` gives a snapshot's bytes exactly; ``show`` its tree."""
        snapshot_id = data.draw(st.sampled_from(sorted(i for i, t in self.snaps.items() if t)))
        tree = self.snaps[snapshot_id]
        path = data.draw(st.sampled_from(sorted(tree)), label="path")
        assert self.store.cat(snapshot_id, path) == node_bytes(tree[path])
        assert self.store.show(snapshot_id).tree == tree_id(tree)
        missing = path + b"/nothing" if isinstance(tree[path], File) else b"no such path"
        with pytest.raises(BadPath):
            self.store.cat(snapshot_id, missing)

    # ------------------------------------------------------------------------- invariants

    @invariant()
    def count_steps(self) -> None:
        """Invariants run once after set-up and once after every step: count them."""
        StoreMachine.checks += 1

    @invariant()
    def tree_matches_model(self) -> None:
        real = read_tree(self.root, {b"", *self.nested})
        difference = _tree_difference(real, self.tree)
        assert not difference, "\n".join(difference)
        for folder in self.nested:
            assert os.path.isdir(os.path.join(self._abs(folder), b".git")), folder

    @invariant()
    def project_git_untouched(self) -> None:
        changes = fingerprint_changes(self.project_print, fingerprint(self.root / ".git"))
        assert not changes, changes

    @invariant()
    def outside_untouched(self) -> None:
        assert fingerprint(self.outside) == self.outside_print

    @invariant()
    def store_verifies(self) -> None:
        result = self.store.verify()
        assert result.ok, result.problems

    @invariant()
    def every_snapshot_listed(self) -> None:
        assert [s.id for s in self.store.list()] == sorted(self.snaps, reverse=True)


def test_store_against_model(tmp_path: Path) -> None:
    """The store behaves as the model says, whatever hypothesis throws at it."""
    StoreMachine.scratch = tmp_path
    StoreMachine.server = CliForkServer(tmp_path / "fork")
    StoreMachine.examples = StoreMachine.checks = 0
    try:
        run_state_machine_as_test(StoreMachine)
    finally:
        StoreMachine.server.close()
        steps = StoreMachine.checks - StoreMachine.examples
        print(f"\nstore model: {StoreMachine.examples} examples, {steps} steps")
