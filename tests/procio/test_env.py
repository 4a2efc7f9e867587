"""What the child inherits: a fresh environment without Git's location variables, the PATH
lookup of ``argv[0]``, and (behaviour 9) the default SIGPIPE disposition."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import procio

pytestmark = pytest.mark.anyio

SIGPIPE_BIT = 1 << (signal.SIGPIPE - 1)
#: Inherited values pointing nowhere useful: if any leaked, git would use them.
INHERITED_GIT_LOCATION = {
    "GIT_DIR": "/nonexistent/inherited.git",
    "GIT_INDEX_FILE": "/nonexistent/inherited-index",
    "GIT_WORK_TREE": "/nonexistent/inherited-work-tree",
    "GIT_OBJECT_DIRECTORY": "/nonexistent/inherited-objects",
    "GIT_COMMON_DIR": "/nonexistent/inherited-common",
}


def parse_environ(output: bytes) -> dict[str, str]:
    """The environment ``env -0`` printed, as a dict."""
    pairs = (item.split("=", 1) for item in output.decode().split("\0") if item)
    return dict(pairs)


def ignored_signals(status: str) -> int:
    """The ``SigIgn`` mask from the text of ``/proc/PID/status``."""
    (line,) = [line for line in status.splitlines() if line.startswith("SigIgn:")]
    return int(line.split()[1], 16)


async def test_env_overrides_apply_to_a_fresh_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides add and replace variables, None removes one, and os.environ is untouched."""
    monkeypatch.setenv("PROCIO_TEST_KEEP", "kept")
    monkeypatch.setenv("PROCIO_TEST_REPLACE", "old")
    monkeypatch.setenv("PROCIO_TEST_REMOVE", "doomed")
    monkeypatch.delenv("PROCIO_TEST_ADD", raising=False)
    before = dict(os.environ)
    result = await procio.run(
        ["env", "-0"],
        env={
            "PROCIO_TEST_ADD": "added",
            "PROCIO_TEST_REPLACE": "new",
            "PROCIO_TEST_REMOVE": None,
            "PROCIO_TEST_NEVER_SET": None,
        },
    )
    seen = parse_environ(result.stdout)
    assert seen["PROCIO_TEST_KEEP"] == "kept"
    assert seen["PROCIO_TEST_ADD"] == "added"
    assert seen["PROCIO_TEST_REPLACE"] == "new"
    assert "PROCIO_TEST_REMOVE" not in seen
    assert "PROCIO_TEST_NEVER_SET" not in seen
    assert dict(os.environ) == before


async def test_inherited_environment_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy is taken per run: a variable set after import reaches the next child."""
    monkeypatch.setenv("PROCIO_TEST_LATE", "late value")
    result = await procio.run(["sh", "-c", 'printf %s "$PROCIO_TEST_LATE"'])
    assert result.stdout == b"late value"


async def test_inherited_git_location_variables_are_scrubbed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIT_DIR, GIT_INDEX_FILE, GIT_WORK_TREE... set around us never reach the child."""
    for name, value in INHERITED_GIT_LOCATION.items():
        monkeypatch.setenv(name, value)
    result = await procio.run(["env", "-0"])
    seen = parse_environ(result.stdout)
    assert not set(INHERITED_GIT_LOCATION) & set(seen)
    # The parent's own environment keeps them: only the child's copy is scrubbed.
    assert os.environ["GIT_INDEX_FILE"] == INHERITED_GIT_LOCATION["GIT_INDEX_FILE"]


async def test_real_git_ignores_inherited_location_but_honours_explicit_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a hook-like environment our git still finds its own repository; passed
    explicitly, the same variables are honoured."""
    repo = tmp_path / "repo"
    other = tmp_path / "other.git"
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    subprocess.run(["git", "init", "--quiet", "--bare", str(other)], check=True)
    for name, value in INHERITED_GIT_LOCATION.items():
        monkeypatch.setenv(name, value)
    git_env: dict[str, str | None] = {"HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}

    own = await procio.run(
        ["git", "rev-parse", "--absolute-git-dir"], cwd=repo, env=git_env, check=True
    )
    assert Path(own.stdout.decode().strip()) == (repo / ".git").resolve()

    explicit = await procio.run(
        ["git", "rev-parse", "--absolute-git-dir"],
        cwd=repo,
        env={**git_env, "GIT_DIR": str(other)},
        check=True,
    )
    assert Path(explicit.stdout.decode().strip()) == other.resolve()

    index = await procio.run(
        ["sh", "-c", 'printf %s "$GIT_INDEX_FILE"'], env={"GIT_INDEX_FILE": "/explicit/index"}
    )
    assert index.stdout == b"/explicit/index"


async def test_location_variable_list_covers_what_git_reports() -> None:
    """GIT_LOCATION_VARIABLES holds every name ``git rev-parse --local-env-vars`` prints."""
    result = await procio.run(["git", "rev-parse", "--local-env-vars"], check=True)
    reported = set(result.stdout.decode().split())
    assert {"GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"} <= reported
    assert isinstance(procio.GIT_LOCATION_VARIABLES, frozenset)
    assert reported <= procio.GIT_LOCATION_VARIABLES, reported - procio.GIT_LOCATION_VARIABLES


async def test_argv0_is_looked_up_on_the_childs_path(tmp_path: Path) -> None:
    """A bare program name is found on PATH (the PATH the child gets), with no shell."""
    program = tmp_path / "procio-test-hello"
    program.write_text('#!/bin/sh\nprintf "hello %s" "$1"\n')
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    path = f"{tmp_path}{os.pathsep}{os.environ['PATH']}"
    result = await procio.run(["procio-test-hello", "$HOME; *"], env={"PATH": path})
    assert result.ok
    assert result.stdout == b"hello $HOME; *"  # one argument, never expanded by a shell


@pytest.mark.parametrize("input", [None, b"", b"data"], ids=["no-input", "empty", "bytes"])
async def test_child_gets_blocking_standard_streams(input: bytes | None) -> None:
    """The child's stdin, stdout and stderr are blocking, as programs expect: the parent's
    non-blocking ends of the pipes must not leak their mode into the child's ends."""
    script = "import os; print([os.get_blocking(fd) for fd in (0, 1, 2)])"
    result = await procio.run([sys.executable, "-c", script], input=input, check=True)
    assert result.stdout == b"[True, True, True]\n"


async def test_child_gets_default_sigpipe_disposition() -> None:
    """Behaviour 9: SIGPIPE is not ignored in the child, though Python ignores it in itself."""
    assert ignored_signals(Path("/proc/self/status").read_text()) & SIGPIPE_BIT, (
        "contrast expected: the Python parent ignores SIGPIPE"
    )
    result = await procio.run(["sh", "-c", "cat /proc/$$/status"])
    assert result.ok
    assert ignored_signals(result.stdout.decode()) & SIGPIPE_BIT == 0


async def test_writer_to_a_closed_pipe_dies_quietly_of_sigpipe() -> None:
    """Behaviour 9, as a shell user sees it: ``yes | head`` ends ``yes`` by SIGPIPE (141),
    not by a "Broken pipe" write error as it would with SIGPIPE ignored."""
    result = await procio.run(
        ["sh", "-c", '{ yes; echo "yes:$?" >&2; } | head -c 1'], env={"LC_ALL": "C"}
    )
    assert result.ok
    assert result.stdout == b"y"
    assert result.stderr == b"yes:%d\n" % (128 + signal.SIGPIPE)


async def test_pass_fds_hands_a_descriptor_down_to_the_child() -> None:
    """``pass_fds``: the child can write to a descriptor the parent passed, and only then."""
    read_end, write_end = os.pipe()
    try:
        script = f"import os; os.write({write_end}, b'handed-down\\n')"
        result = await procio.run([sys.executable, "-c", script], pass_fds=[write_end])
        assert result.returncode == 0
        os.close(write_end)
        write_end = -1
        assert os.read(read_end, 100) == b"handed-down\n"
        other_read, other_write = os.pipe()
        try:
            script = f"import os; os.write({other_write}, b'x')"
            refused = await procio.run([sys.executable, "-c", script])
            assert refused.returncode != 0
            assert b"Bad file descriptor" in refused.stderr
        finally:
            os.close(other_read)
            os.close(other_write)
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)
