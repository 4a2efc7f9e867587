"""The README's main command and its agent-runtime example work as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from snaptools import populate, tree_state

import snapshot

pytestmark = pytest.mark.anyio


def test_readme_main_command_captures_and_diffs(project: Path) -> None:
    """`snap capture -m first && snap diff --stat && snap list` with the installed `snap`."""
    script = Path(sys.executable).parent / "snap"
    assert script.is_file(), "the console script of the package is installed"
    result = subprocess.run(
        ["sh", "-c", f"'{script}' capture -m first && '{script}' diff --stat && '{script}' list"],
        cwd=project,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("captured ")
    assert lines[-1].endswith("first")


async def test_readme_agent_step_example(project: Path) -> None:
    """Capture before a step, diff after it, revert one file, roll everything back."""
    populate(project, {"config.yaml": b"setting: 1\n"})
    store = await snapshot.Store.open(project)
    before = await store.capture("before step 12")
    populate(project, {"config.yaml": b"setting: 2\n", "src/main.py": b"print('edited')\n"})
    populate(project, {"notes/new.md": b"an agent's note\n"})
    edited = tree_state(project)
    diff = await store.diff(before.id)
    assert {(c.status, c.path) for c in diff.changes} == {
        ("modified", "config.yaml"),
        ("modified", "src/main.py"),
        ("added", "notes/new.md"),
    }
    assert b"-setting: 1\n+setting: 2\n" in diff.patch
    assert "config.yaml" in diff.name_only()
    await store.revert(before.id, ["config.yaml"])
    assert (project / "config.yaml").read_bytes() == b"setting: 1\n"
    assert (project / "src" / "main.py").read_bytes() == b"print('edited')\n"
    result = await store.restore(before.id)
    assert not (project / "notes").exists()
    assert (project / "src" / "main.py").read_bytes() == b"print('hello')\n"
    await store.restore(result.undo)
    assert tree_state(project) == {**edited, b"config.yaml": ("file", False, b"setting: 1\n")}
