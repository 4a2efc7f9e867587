"""Fixtures for the snapshot tests: a project checkout, a plain folder, a store, the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from snaptools import Exec, Link, Snap, git, populate, run_cli

#: What the project fixture holds at its first commit.
PROJECT_FILES = {
    "README.md": b"# project\n",
    "src/main.py": b"print('hello')\n",
    "src/util/helpers.py": b"def helper():\n    return 1\n",
    "bin/run.sh": Exec(b"#!/bin/sh\necho run\n"),
    "docs/link-to-readme": Link("../README.md"),
    ".gitignore": b"*.log\nbuild/\n",
}

#: What the plain-folder fixture holds.
PLAIN_FILES = {
    "notes.txt": b"notes\n",
    "data/values.csv": b"a,b\n1,2\n",
    "tool": Exec(b"#!/bin/sh\n"),
}


@pytest.fixture
def anyio_backend() -> str:
    """The async tests run on asyncio (the store is backend-neutral; one is enough here)."""
    return "asyncio"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Git checkout with one commit, created with a neutral git config."""
    root = tmp_path / "project"
    root.mkdir()
    git("init", "--quiet", "--initial-branch=main", root)
    populate(root, PROJECT_FILES)
    git("add", "-A", cwd=root)
    git("commit", "--quiet", "-m", "first", cwd=root)
    return root


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    """A plain folder that is no Git repository at all."""
    root = tmp_path / "plain"
    root.mkdir()
    populate(root, PLAIN_FILES)
    assert git("rev-parse", "--git-dir", cwd=root, check=False) == b""
    return root


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """Where the store goes: a fresh path under ``tmp_path``, outside every tree."""
    return tmp_path / "store"


@pytest.fixture
def snap(project: Path, store_dir: Path) -> Snap:
    """The ``snap`` CLI as a real process, on the project and the test's store."""
    return Snap(project, store_dir)


@pytest.fixture
def cli() -> Callable[..., tuple[int, bytes, bytes]]:
    """``run_cli``: run ``python -m snapshot.cli`` as a subprocess -> (status, stdout, stderr)."""
    return run_cli
