"""Bytes are captured exactly whatever the user's global Git config and attributes say.

The private HOME gets a ~/.gitconfig with every setting that could change what git stores or
hide a change (autocrlf, a clean/smudge filter, fileMode, symlinks, checkStat, trustctime), and
hooks, a template folder and an fsmonitor that would leave marker files if git ever ran them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from snaptools import (
    Exec,
    Link,
    Snap,
    fingerprint,
    git,
    populate,
    reference_tree,
    store_git,
    tree_state,
)

from snapshot import Store

pytestmark = pytest.mark.anyio

HOOK_NAMES = (
    "pre-commit",
    "post-commit",
    "post-checkout",
    "post-index-change",
    "reference-transaction",
    "pre-auto-gc",
    "post-rewrite",
    "fsmonitor",
)

#: Files whose bytes any of the hostile settings would change if it applied.
TRICKY_FILES = {
    ".gitattributes": b"* filter=evil text eol=crlf ident\n",
    "crlf.txt": b"apple\r\nbanana\r\n",
    "lf.txt": b"alpha\nbeta\n",
    "mixed.txt": b"a\r\nb\nc\r",
    "ident.txt": b"$Id$\n",
    "run.sh": Exec(b"#!/bin/sh\necho a\n"),
    "link": Link("crlf.txt"),
    "dirlink": Link("sub"),
    "outside-link": Link("/etc"),
    "sub/inner.txt": b"aaa\r\n",
}


@pytest.fixture
def markers(private_home: Path) -> Path:
    """Where hooks and filters leave a file each if git ever runs them."""
    return private_home / "markers"


@pytest.fixture
def hostile_home(private_home: Path, markers: Path) -> Path:
    """A global config, attributes file, hooks and template that would all corrupt a capture."""
    hooks = private_home / "hooks"
    template_hooks = private_home / "template" / "hooks"
    for folder in (hooks, template_hooks):
        folder.mkdir(parents=True)
        for name in HOOK_NAMES:
            script = folder / name
            script.write_text(f"#!/bin/sh\nmkdir -p '{markers}'\ntouch '{markers}/{name}'\n")
            script.chmod(0o755)
    settings = {
        "core.autocrlf": "true",
        "core.eol": "crlf",
        "core.safecrlf": "true",
        "core.fileMode": "false",
        "core.symlinks": "false",
        "core.checkStat": "minimal",
        "core.trustctime": "false",
        "core.ignoreCase": "true",
        "core.untrackedCache": "true",
        "core.splitIndex": "true",
        "core.hooksPath": str(hooks),
        "core.fsmonitor": str(hooks / "fsmonitor"),
        "init.templateDir": str(private_home / "template"),
        "index.version": "4",
        "feature.manyFiles": "true",
        "gc.auto": "1",
        "filter.evil.clean": f"sh -c 'mkdir -p {markers}; touch {markers}/clean; sed s/a/b/'",
        "filter.evil.smudge": f"sh -c 'mkdir -p {markers}; touch {markers}/smudge; sed s/b/a/'",
        "filter.evil.required": "true",
    }
    for key, value in settings.items():
        git("config", "--global", key, value, user_config=True)
    attributes = private_home / ".config" / "git" / "attributes"
    attributes.parent.mkdir(parents=True, exist_ok=True)
    attributes.write_bytes(b"* filter=evil text eol=crlf\n")
    return private_home


def assert_no_markers(markers: Path) -> None:
    """No hook, filter or fsmonitor of the user's ever ran."""
    assert not markers.exists(), sorted(os.listdir(markers))


@pytest.fixture
def hostile_project(project: Path, hostile_home: Path, markers: Path) -> Path:
    """The project with the tricky files and hooks of its own, under the hostile config."""
    for name in HOOK_NAMES:
        script = project / ".git" / "hooks" / name
        script.write_text(f"#!/bin/sh\nmkdir -p '{markers}'\ntouch '{markers}/project-{name}'\n")
        script.chmod(0o755)
    populate(project, TRICKY_FILES)
    return project


async def test_bytes_bits_and_links_are_captured_exactly(
    hostile_project: Path, store_dir: Path, markers: Path, tmp_path: Path
) -> None:
    """Every file's bytes come back from cat; CRLF kept; exec bit and links kept; no hooks."""
    git_dir_before = fingerprint(hostile_project / ".git")
    store = await Store.open(hostile_project, store=store_dir)
    snapshot = await store.capture()
    for name, spec in TRICKY_FILES.items():
        expected = os.fsencode(spec.target) if isinstance(spec, Link) else spec
        if isinstance(spec, Exec):
            expected = spec.data
        assert await store.cat(snapshot.id, name) == expected, name
    modes = {}
    out = store_git(store_dir, "ls-tree", "-r", snapshot.tree).stdout.decode()
    for line in out.splitlines():
        meta, path = line.split("\t")
        modes[path] = meta.split()[0]
    assert modes["run.sh"] == "100755"
    assert modes["link"] == modes["dirlink"] == modes["outside-link"] == "120000"
    assert "dirlink/inner.txt" not in modes, "a link to a folder was followed"
    assert not [p for p in modes if p.startswith("outside-link/")]
    # The tree is the one a neutral git gives for the same bytes.
    files = {
        path: spec
        for path, spec in (
            *TRICKY_FILES.items(),
            *{
                "README.md": b"# project\n",
                "src/main.py": b"print('hello')\n",
                "src/util/helpers.py": b"def helper():\n    return 1\n",
                "bin/run.sh": Exec(b"#!/bin/sh\necho run\n"),
                "docs/link-to-readme": Link("../README.md"),
                ".gitignore": b"*.log\nbuild/\n",
            }.items(),
        )
    }
    assert snapshot.tree == reference_tree(tmp_path / "reference", files)
    assert_no_markers(markers)
    assert fingerprint(hostile_project / ".git") == git_dir_before
    # The store was created under this config: no template hook was copied into it.
    hooks = store_dir / "hooks"
    assert not hooks.exists() or not [p for p in hooks.iterdir() if p.name in HOOK_NAMES]


async def test_changes_are_noticed_whatever_checkstat_trustctime_filemode_say(
    hostile_project: Path, store_dir: Path, markers: Path
) -> None:
    """Same-size edits, a mode-only change and a link retarget are all captured."""
    store = await Store.open(hostile_project, store=store_dir)
    await store.capture()
    for number in range(3):
        content = f"apple {number}\r\n".encode()
        (hostile_project / "crlf.txt").write_bytes(content)
        snapshot = await store.capture()
        assert await store.cat(snapshot.id, "crlf.txt") == content
    os.chmod(hostile_project / "run.sh", 0o644)
    (hostile_project / "link").unlink()
    os.symlink("lf.txt", hostile_project / "link")
    snapshot = await store.capture()
    out = store_git(store_dir, "ls-tree", snapshot.tree, "run.sh").stdout
    assert out.startswith(b"100644 ")
    assert await store.cat(snapshot.id, "link") == b"lf.txt"
    assert_no_markers(markers)


async def test_restore_writes_exact_bytes_under_hostile_config(
    hostile_project: Path, store_dir: Path, markers: Path
) -> None:
    """Restore writes back the captured bytes, exec bits and links: no smudge, no CRLF games."""
    store = await Store.open(hostile_project, store=store_dir)
    before = tree_state(hostile_project)
    snapshot = await store.capture()
    populate(hostile_project, {"crlf.txt": b"b\n", "mixed.txt": b"bbb", "link": b"not a link"})
    os.chmod(hostile_project / "run.sh", 0o644)
    (hostile_project / "sub" / "inner.txt").unlink()
    await store.restore(snapshot.id)
    assert tree_state(hostile_project) == before
    assert_no_markers(markers)


def test_cli_under_hostile_config(
    hostile_project: Path, store_dir: Path, markers: Path, private_home: Path
) -> None:
    """The CLI's capture, cat, diff, gc and verify under the hostile config: exact, quiet."""
    snap = Snap(hostile_project, store_dir)
    created = snap.json("capture")
    assert snap.ok("cat", created["id"], "crlf.txt") == b"apple\r\nbanana\r\n"
    (hostile_project / "crlf.txt").write_bytes(b"apple\r\ncherry\r\n")
    changes = snap.json("diff", "--contents")
    assert changes == [
        {
            "path": "crlf.txt",
            "status": "modified",
            "additions": 1,
            "deletions": 1,
            "binary": False,
            "before": "apple\r\nbanana\r\n",
            "after": "apple\r\ncherry\r\n",
        }
    ]
    snap.json("gc", "--keep-last", "1")
    assert json.loads(snap.ok("--json", "verify"))["ok"] is True
    assert_no_markers(markers)


def test_the_hostile_config_does_bite_a_plain_git(hostile_project: Path, markers: Path) -> None:
    """Control: the same config makes a plain ``git`` change bytes and run the filter."""
    neutral = git("hash-object", "--no-filters", "crlf.txt", cwd=hostile_project)
    filtered = git(
        "hash-object", "--path", "crlf.txt", "crlf.txt", cwd=hostile_project, user_config=True
    )
    assert filtered != neutral
    assert (markers / "clean").exists()
