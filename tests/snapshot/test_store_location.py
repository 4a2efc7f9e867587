"""Where the store lives: outside the tree, under XDG_DATA_HOME by default, mode 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from snaptools import Snap, snap_ids, store_git

from snapshot import SnapError, Store, SyncStore

pytestmark = pytest.mark.anyio


def assert_private_bare_store(path: Path) -> None:
    """``path`` is a bare Git repository that only its owner may enter."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o700, oct(path.stat().st_mode)
    out = store_git(path, "rev-parse", "--is-bare-repository").stdout
    assert out.strip() == b"true"


async def test_default_store_is_under_xdg_data_home_outside_the_tree(
    project: Path, private_home: Path
) -> None:
    """With no store named, the store is a 0700 bare repo in $XDG_DATA_HOME/snap/<per tree>.

    The umask is opened wide so that 0700 must come from the store itself.
    """
    old = os.umask(0)
    try:
        store = await Store.open(project)
    finally:
        os.umask(old)
    data_home = Path(os.environ["XDG_DATA_HOME"])
    assert store.path.parent == data_home / "snap"
    assert project not in store.path.parents
    assert_private_bare_store(store.path)
    snapshot = await store.capture()
    assert snap_ids(store.path) == [snapshot.id]
    assert not any(p.name == "snap" for p in project.iterdir())


async def test_default_store_without_xdg_data_home_is_under_local_share(
    project: Path, private_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without XDG_DATA_HOME the default is ~/.local/share/snap/."""
    monkeypatch.delenv("XDG_DATA_HOME")
    store = await Store.open(project)
    assert store.path.parent == private_home / ".local" / "share" / "snap"
    assert_private_bare_store(store.path)


async def test_each_tree_has_its_own_store_derived_from_its_real_path(
    project: Path, plain: Path, tmp_path: Path
) -> None:
    """Two trees get two stores; the same tree reached through a symlink gets the same one."""
    first = await Store.open(project)
    second = await Store.open(plain)
    assert first.path != second.path
    alias = tmp_path / "alias"
    alias.symlink_to(project)
    again = await Store.open(alias)
    assert again.path == first.path


async def test_snap_store_variable_chooses_the_store(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$SNAP_STORE overrides the default location; nothing is created under XDG_DATA_HOME."""
    chosen = tmp_path / "elsewhere" / "store"
    monkeypatch.setenv("SNAP_STORE", str(chosen))
    store = await Store.open(project)
    snapshot = await store.capture()
    assert store.path == chosen
    assert_private_bare_store(chosen)
    assert snap_ids(chosen) == [snapshot.id]
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "snap").exists()


def test_store_option_of_the_cli_chooses_the_store(project: Path, tmp_path: Path) -> None:
    """``snap --store DIR`` puts the store there, also over $SNAP_STORE."""
    chosen = tmp_path / "cli-store"
    created = Snap(project, chosen).json("capture")
    assert_private_bare_store(chosen)
    assert snap_ids(chosen) == [created["id"]]
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "snap").exists()


def test_store_option_wins_over_snap_store(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An explicit ``store=`` wins over $SNAP_STORE."""
    monkeypatch.setenv("SNAP_STORE", str(tmp_path / "from-env"))
    store = SyncStore.open(project, store=tmp_path / "explicit")
    store.capture()
    assert Path(store.path) == tmp_path / "explicit"
    assert not (tmp_path / "from-env").exists()


async def test_a_store_inside_the_tree_is_refused(project: Path) -> None:
    """The store must lie outside the tree it captures."""
    with pytest.raises(SnapError, match="outside"):
        await Store.open(project, store=project / "inner-store")
    assert not (project / "inner-store").exists()
