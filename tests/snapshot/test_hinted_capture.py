"""Hinted captures: the named paths are exact, everything else is carried from the newest one.

Each test compares a hinted capture with a full capture of the same tree (the hinted paths
cover every change), or shows what the contract says is carried.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from snaptools import Exec, Link, Snap, assert_one_error_line, git, populate, store_git

from snapshot import BadPath, Store

pytestmark = pytest.mark.anyio


async def both_ways(
    worktree: Path, tmp_path: Path, change: Callable[[], None], hints: list[str | bytes]
) -> None:
    """Capture, change the tree, then capture with ``hints`` and in full: the trees agree."""
    hinted = await Store.open(worktree, store=tmp_path / "hinted", max_file_size=1000)
    full = await Store.open(worktree, store=tmp_path / "full", max_file_size=1000)
    await hinted.capture()
    await full.capture()
    change()
    by_hint = await hinted.capture(paths=hints)
    in_full = await full.capture()
    assert by_hint.tree == in_full.tree
    assert by_hint.skipped == in_full.skipped
    assert (await hinted.verify()).ok


async def test_hinted_files_match_a_full_capture(project: Path, tmp_path: Path) -> None:
    def change() -> None:
        populate(
            project,
            {
                "README.md": b"# rewritten\n",
                "new/deep/file.txt": b"new\n",
                "bin/run.sh": b"no longer executable\n",
                "docs/link-to-readme": Link("../src/main.py"),
                b"odd-\xff-name.txt": b"bytes in the name\n",
            },
        )
        (project / "src" / "main.py").unlink()

    hints = ["README.md", "new/deep/file.txt", "bin/run.sh", "docs/link-to-readme", "src/main.py"]
    await both_ways(project, tmp_path, change, [*hints, b"odd-\xff-name.txt"])


async def test_a_hinted_folder_is_reconciled_whole(project: Path, tmp_path: Path) -> None:
    def change() -> None:
        (project / "src" / "util" / "helpers.py").unlink()
        (project / "src" / "util").rmdir()
        populate(project, {"src/util": b"a file where a folder was\n", "src/new.py": b"x\n"})
        populate(project, {"src/build.log": b"ignored\n", "src/big.bin": b"x" * 5000})
        inner = project / "src" / "vendored"
        inner.mkdir()
        git("init", "--quiet", inner)
        populate(inner, {"code.c": b"int x;\n"})

    await both_ways(project, tmp_path, change, ["src"])


async def test_a_file_becoming_a_folder(project: Path, tmp_path: Path) -> None:
    def change() -> None:
        (project / "README.md").unlink()
        populate(project, {"README.md/part.txt": b"now a folder\n"})

    await both_ways(project, tmp_path, change, ["README.md/part.txt"])


async def test_ignored_but_tracked_files_are_taken(project: Path, tmp_path: Path) -> None:
    populate(project, {"keep.log": b"tracked though ignored\n"})
    git("add", "--force", "keep.log", cwd=project)

    def change() -> None:
        populate(project, {"keep.log": b"changed\n", "other.log": b"ignored, untracked\n"})

    await both_ways(project, tmp_path, change, ["keep.log", "other.log"])


async def test_paths_not_hinted_are_carried(project: Path, tmp_path: Path) -> None:
    store = await Store.open(project, store=tmp_path / "store", max_file_size=1000)
    first = await store.capture()
    populate(project, {"README.md": b"# changed, not hinted\n", "src/main.py": b"hinted\n"})
    populate(project, {"huge.bin": b"x" * 5000})
    await store.capture()  # skips huge.bin
    populate(project, {"src/main.py": b"hinted again\n"})
    hinted = await store.capture(paths=["src/main.py"])
    assert await store.cat(hinted.id, "src/main.py") == b"hinted again\n"
    assert await store.cat(hinted.id, "README.md") == b"# changed, not hinted\n"
    assert [s.path for s in hinted.skipped] == ["huge.bin"]
    (project / "huge.bin").unlink()
    populate(project, {"README.md": b"# changed again, not hinted\n"})
    again = await store.capture(paths=["huge.bin"])
    assert again.skipped == ()
    assert await store.cat(again.id, "README.md") == b"# changed, not hinted\n"
    assert await store.cat(first.id, "README.md") == b"# project\n"


async def test_no_hints_copies_the_newest_snapshot(project: Path, tmp_path: Path) -> None:
    store = await Store.open(project, store=tmp_path / "store")
    first = await store.capture()
    populate(project, {"README.md": b"# unseen\n"})
    second = await store.capture(paths=[])
    assert second.id != first.id
    assert second.tree == first.tree


async def test_without_a_snapshot_or_naming_the_root_the_capture_is_full(
    project: Path, tmp_path: Path
) -> None:
    store = await Store.open(project, store=tmp_path / "store")
    populate(project, {"new.txt": b"new\n"})
    first = await store.capture(paths=["README.md"])
    assert await store.cat(first.id, "new.txt") == b"new\n"
    populate(project, {"other.txt": b"other\n"})
    for root in (".", str(project), "src/.."):
        snapshot = await store.capture(paths=["README.md", root])
        assert await store.cat(snapshot.id, "other.txt") == b"other\n"


async def test_a_hint_outside_the_tree_is_refused_before_anything(
    project: Path, tmp_path: Path
) -> None:
    store = await Store.open(project, store=tmp_path / "store")
    await store.capture()
    before = await store.list()
    for bad in ("../outside", "/etc/passwd", str(tmp_path)):
        with pytest.raises(BadPath, match="not a path inside the working tree"):
            await store.capture(paths=["README.md", bad])
    assert await store.list() == before


async def test_an_executable_bit_and_a_link_target_are_exact(plain: Path, tmp_path: Path) -> None:
    store = await Store.open(plain, store=tmp_path / "store")
    await store.capture()
    populate(plain, {"notes.txt": Exec(b"now executable\n"), "to-notes": Link("notes.txt")})
    snapshot = await store.capture(paths=["notes.txt", "to-notes"])
    listing = store_git(tmp_path / "store", "ls-tree", "-r", snapshot.tree).stdout.decode()
    assert "100755 blob" in next(line for line in listing.splitlines() if "notes.txt" in line)
    assert "120000 blob" in next(line for line in listing.splitlines() if "to-notes" in line)
    assert await store.cat(snapshot.id, "to-notes") == b"notes.txt"


def test_cli_paths_from_a_file_and_from_stdin(snap: Snap, project: Path, tmp_path: Path) -> None:
    snap.ok("capture")
    populate(project, {"README.md": b"# from the list\n", "src/main.py": b"also\n"})
    listing = tmp_path / "changed.txt"
    listing.write_text("README.md\n\n")
    snap.ok("capture", "--paths-from", str(listing))
    assert snap.ok("cat", "latest", "src/main.py") == b"print('hello')\n"
    assert snap.ok("cat", "latest", "README.md") == b"# from the list\n"
    code, _, err = snap("capture", "--paths-from", "-", "-z", input=b"src/main.py\0")
    assert code == 0, err
    assert snap.ok("cat", "latest", "src/main.py") == b"also\n"
    line = assert_one_error_line(*snap("capture", "--paths-from", str(tmp_path / "nope.txt"))[::2])
    assert "nope.txt" in line
    line = assert_one_error_line(*snap("capture", "--paths-from", "-", input=b"../out\n")[::2])
    assert "not a path inside the working tree" in line


async def test_a_hint_inside_a_nested_repository(project: Path, tmp_path: Path) -> None:
    """Git lists nothing for a path inside a nested repository; found by the model."""
    populate(project, {"vendor/held.c": b"int held;\n"})

    def change() -> None:
        for folder in ("vendor", "lib"):
            (project / folder).mkdir(exist_ok=True)
            git("init", "--quiet", project / folder)
        populate(project, {"vendor/held.c": b"int changed;\n", "lib/new.c": b"int x;\n"})

    await both_ways(project, tmp_path, change, ["vendor/held.c", "lib/new.c"])
