"""Full captures ask Git the ignore questions again only when their answers can have changed.

The answers (held files now ignored, ignored files the project tracks) depend only on the
``.gitignore`` files of folders holding files, the exclude files and the project's index; while
none of those changed, the questions are skipped. Each test changes one of them and checks
that the capture sees it, and one checks that an unchanged tree really skips the questions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from snaptools import git, populate, store_git

import procio
from snapshot import Store

pytestmark = pytest.mark.anyio


@contextlib.contextmanager
def watching(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The argv of every process procio starts meanwhile (they still run for real)."""
    seen: list[list[str]] = []
    real = procio.run

    async def run(argv: Sequence[str], **options: Any) -> procio.Result:
        seen.append(list(argv))
        return await real(argv, **options)

    monkeypatch.setattr(procio, "run", run)
    yield seen


def asks_ignored(argv: list[str]) -> bool:
    return "ls-files" in argv and "--ignored" in argv


def files_of(store: Path, tree: str) -> list[str]:
    out = store_git(store, "ls-tree", "-r", "--name-only", tree).stdout
    return out.decode().splitlines()


async def test_unchanged_rules_skip_the_questions_and_a_changed_gitignore_asks(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir)
    populate(project, {"src/notes.tmp": b"held\n"})
    await store.capture()
    await store.capture()  # the first check with every folder's stat known
    with watching(monkeypatch) as seen:
        populate(project, {"src/main.py": b"print('edited')\n"})
        edited = await store.capture()
    assert not any(asks_ignored(argv) for argv in seen), seen
    assert await store.cat(edited.id, "src/main.py") == b"print('edited')\n"
    # A .gitignore in a folder holding files now ignores a held file: it is let go.
    populate(project, {"src/.gitignore": b"*.tmp\n"})
    with watching(monkeypatch) as seen:
        after = await store.capture()
    assert any(asks_ignored(argv) for argv in seen)
    assert "src/notes.tmp" not in files_of(store_dir, after.tree)


async def test_a_changed_exclude_file_is_seen(project: Path, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir)
    populate(project, {"notes.txt": b"held, not tracked by the project\n"})
    for _ in range(3):
        await store.capture()
    (project / ".git" / "info").mkdir(exist_ok=True)
    (project / ".git" / "info" / "exclude").write_text("notes.txt\n")
    after = await store.capture()
    assert "notes.txt" not in files_of(store_dir, after.tree)


async def test_a_file_the_project_starts_tracking_is_taken(project: Path, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir)
    populate(project, {"debug.log": b"ignored by *.log\n"})
    for _ in range(3):
        snapshot = await store.capture()
    assert "debug.log" not in files_of(store_dir, snapshot.tree)
    git("add", "--force", "debug.log", cwd=project)
    after = await store.capture()
    assert "debug.log" in files_of(store_dir, after.tree)
    # Deleted and written again, it is taken again though its rules never changed.
    (project / "debug.log").unlink()
    gone = await store.capture()
    assert "debug.log" not in files_of(store_dir, gone.tree)
    populate(project, {"debug.log": b"back\n"})
    back = await store.capture()
    assert await store.cat(back.id, "debug.log") == b"back\n"


async def test_a_tracked_ignored_file_and_a_large_new_file_together(
    project: Path, tmp_path: Path
) -> None:
    """Regression: the two lists once shared a name, and the ignored tracked file was lost."""
    store_dir = tmp_path / "store"
    store = await Store.open(project, store=store_dir, max_file_size=1000)
    await store.capture()
    populate(project, {"keep.log": b"tracked though ignored\n", "huge.bin": b"x" * 5000})
    git("add", "--force", "keep.log", cwd=project)
    snapshot = await store.capture()
    assert "keep.log" in files_of(store_dir, snapshot.tree)
    assert [s.path for s in snapshot.skipped] == ["huge.bin"]


async def test_reads_of_the_working_tree_after_a_restore(project: Path, tmp_path: Path) -> None:
    """Regression (found by the model): with no recorded check (after a restore), a read's
    capture (its objects quarantined) asked the store for a tree only the quarantine held."""
    store = await Store.open(project, store=tmp_path / "store")
    first = await store.capture()
    populate(project, {"README.md": b"# changed\n"})
    await store.restore(first.id)  # its files are held whatever the rules: no record kept
    populate(project, {"src/main.py": b"print('unsaved')\n"})
    assert (await store.diff(first.id)).name_only() == ["src/main.py"]
    plan = await store.restore(first.id, dry_run=True)
    assert plan.written == ("src/main.py",)
