"""Behaviour 2, the real case: git dies on a stale ``index.lock`` while 4 MiB wait on its stdin.

Git exits 128 at once, before it reads its pathspecs, so the parent's write of the rest fails
late with a pipe error. The caller must see 128 and git's own message, never "Broken pipe".
The race differs from run to run, so each backend repeats it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import procio

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_stray_reports")]

REPEATS = 20
#: 4 MiB of NUL-separated pathspecs: 255 'a' bytes and a NUL, over and over.
PATHSPECS = (b"a" * 255 + b"\0") * (4 * 1024 * 1024 // 256)


@pytest.fixture
def locked_repository(tmp_path: Path) -> tuple[list[str], dict[str, str | None]]:
    """A bare repository with a stale ``index.lock``, a work tree, and the ``git add`` argv."""
    git_dir = tmp_path / "repo.git"
    work_tree = tmp_path / "work"
    work_tree.mkdir()
    (work_tree / "file.txt").write_text("content\n")
    subprocess.run(["git", "init", "--quiet", "--bare", str(git_dir)], check=True)
    (git_dir / "index.lock").write_bytes(b"")
    argv = [
        "git",
        f"--git-dir={git_dir}",
        f"--work-tree={work_tree}",
        "add",
        "--all",
        "--pathspec-from-file=-",
        "--pathspec-file-nul",
    ]
    env: dict[str, str | None] = {
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
        "LANGUAGE": None,
    }
    return argv, env


def assert_lock_message(stderr: bytes) -> None:
    """Git's own diagnosis is there: the lock file, and why it could not be created."""
    assert b"index.lock" in stderr, stderr
    assert b"File exists" in stderr, stderr


@pytest.mark.parametrize("attempt", range(REPEATS))
async def test_stale_index_lock_reports_128_and_gits_message(
    locked_repository: tuple[list[str], dict[str, str | None]], attempt: int
) -> None:
    """check=False: return code 128, the index.lock message, no exception, input abandoned."""
    argv, env = locked_repository
    result = await procio.run(argv, input=PATHSPECS, env=env)
    assert result.returncode == 128, (attempt, result)
    assert result.signal is None
    assert not result.ok
    assert_lock_message(result.stderr)
    assert result.stdin_unconsumed


@pytest.mark.parametrize("attempt", range(REPEATS))
async def test_stale_index_lock_raises_command_failed_without_pipe_errors(
    locked_repository: tuple[list[str], dict[str, str | None]],
    attempt: int,
    find_pipe_errors: Callable[[BaseException], list[BaseException]],
) -> None:
    """check=True: CommandFailed carries 128 and git's message; no pipe error in its chain."""
    argv, env = locked_repository
    with pytest.raises(procio.CommandFailed) as caught:
        await procio.run(argv, input=PATHSPECS, env=env, check=True)
    error = caught.value
    assert type(error) is procio.CommandFailed, (attempt, error)
    assert error.result.returncode == 128
    assert_lock_message(error.result.stderr)
    message = str(error)
    assert "index.lock" in message
    assert "File exists" in message
    assert "128" in message
    assert "git" in message
    assert find_pipe_errors(error) == []
