"""Helpers for the snapshot tests: real git, real files, real processes; nothing mocked."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

#: Overrides that make a reference ``git`` ignore whatever config the test's HOME holds.
NEUTRAL_GIT_ENV: dict[str, str] = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
}


def reference_env(*, user_config: bool = False) -> dict[str, str]:
    """The environment of a reference ``git``: no inherited repository-selecting variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))
    }
    if not user_config:
        env.update(NEUTRAL_GIT_ENV)
    return env


@attrs.frozen
class Link:
    """A symbolic link to ``target`` (never followed)."""

    target: str | bytes


@attrs.frozen
class Exec:
    """A file with the executable bit set."""

    data: bytes


FileSpec = bytes | Link | Exec


def git(
    *args: str | bytes | os.PathLike[str],
    cwd: Path | None = None,
    input: bytes | None = None,
    check: bool = True,
    user_config: bool = False,
) -> bytes:
    """Run a reference ``git`` (neutral config unless ``user_config``); return its stdout."""
    env = reference_env(user_config=user_config)
    result = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, env=env, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"git {args!r} failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
        )
    return result.stdout


def store_git(store: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run a reference ``git`` against the store itself (a bare repository)."""
    env = reference_env()
    result = subprocess.run(
        ["git", f"--git-dir={store}", *args], capture_output=True, env=env, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {args!r} in the store failed: {result.stderr!r}")
    return result


def populate(root: Path, files: Mapping[str | bytes, FileSpec]) -> None:
    """Create ``files`` (paths relative to ``root``) with their contents, bits and links."""
    base = os.fsencode(root)
    for name, spec in files.items():
        path = os.path.join(base, os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        if isinstance(spec, Link):
            os.symlink(os.fsencode(spec.target), path)
        elif isinstance(spec, Exec):
            with open(path, "wb") as handle:
                handle.write(spec.data)
            os.chmod(path, 0o755)
        else:
            with open(path, "wb") as handle:
                handle.write(spec)
            os.chmod(path, 0o644)


def tree_state(root: Path, *, skip: tuple[bytes, ...] = (b".git",)) -> dict[bytes, tuple[Any, ...]]:
    """Every path under ``root`` (bytes) with what it is: folder, link target, or file bytes.

    Files record their bytes and executable bit. Top-level names in ``skip`` are left out.
    """
    base = os.fsencode(root)
    state: dict[bytes, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(base):
        at_top = os.path.relpath(folder, base) == b"."
        if at_top:
            dirs[:] = [d for d in dirs if d not in skip]
        for name in dirs + [f for f in files if not (at_top and f in skip)]:
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, base)
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                state[relative] = ("link", os.readlink(full))
            elif stat.S_ISDIR(info.st_mode):
                state[relative] = ("dir",)
            else:
                with open(full, "rb") as handle:
                    state[relative] = ("file", bool(info.st_mode & 0o100), handle.read())
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    return state


def fingerprint(root: Path) -> dict[bytes, tuple[Any, ...]]:
    """Every entry under ``root`` (or ``root`` itself when it is no folder) byte for byte:
    mode, size, mtime (ns), inode and a hash of the content or link target.

    Folders are included with their mtime, so a file created and removed again shows.
    """
    base = os.fsencode(root)

    def entry(full: bytes) -> tuple[Any, ...]:
        info = os.lstat(full)
        digest = ""
        if stat.S_ISREG(info.st_mode):
            with open(full, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
        elif stat.S_ISLNK(info.st_mode):
            digest = os.readlink(full).hex()
        size = 0 if stat.S_ISDIR(info.st_mode) else info.st_size
        return (info.st_mode, size, info.st_mtime_ns, info.st_ino, digest)

    if os.path.islink(base) or not os.path.isdir(base):
        return {b".": entry(base)}
    result: dict[bytes, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(base):
        for name in [b".", *dirs, *files]:
            full = os.path.normpath(os.path.join(folder, name))
            result[os.path.relpath(full, base)] = entry(full)
    return result


def reference_tree(where: Path, files: Mapping[str | bytes, FileSpec]) -> str:
    """The hash ``git write-tree`` gives for ``files`` in a fresh plain repository."""
    where.mkdir(parents=True)
    git("init", "--quiet", where)
    # Bytes as they are, whatever a .gitattributes among the files says.
    (where / ".git" / "info").mkdir(exist_ok=True)
    (where / ".git" / "info" / "attributes").write_bytes(
        b"* -text -eol -filter -ident -working-tree-encoding\n"
    )
    populate(where, files)
    git("add", "-A", cwd=where)
    return git("write-tree", cwd=where).decode().strip()


def tree_of(store: Path, snapshot_id: str) -> str:
    """What ``refs/snaps/<id>`` in the store peels to, according to git itself."""
    out = store_git(store, "rev-parse", "--verify", f"refs/snaps/{snapshot_id}^{{tree}}")
    return out.stdout.decode().strip()


def snap_ids(store: Path) -> list[str]:
    """The snapshot ids under ``refs/snaps/``, as git lists them."""
    out = store_git(store, "for-each-ref", "--format=%(refname)", "refs/snaps/").stdout
    return [line.removeprefix("refs/snaps/") for line in out.decode().split()]


def run_cli(
    args: list[str | bytes] | tuple[str | bytes, ...],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = 120,
) -> tuple[int, bytes, bytes]:
    """Run ``snap`` as a real process: ``sys.executable -m snapshot.cli ARGS``."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "snapshot.cli", *args],
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


@attrs.define
class Snap:
    """The ``snap`` CLI bound to one working tree (``-C``) and one store (``--store``)."""

    worktree: Path
    store: Path

    def __call__(
        self, *args: str | bytes, cwd: Path | None = None, input: bytes | None = None
    ) -> tuple[int, bytes, bytes]:
        """Run ``snap -C WORKTREE --store STORE ARGS``; return (status, stdout, stderr)."""
        return run_cli(
            ["-C", str(self.worktree), "--store", str(self.store), *args], cwd=cwd, input=input
        )

    def ok(self, *args: str | bytes) -> bytes:
        """Run and require success with a quiet stderr; return stdout."""
        code, out, err = self(*args)
        assert code == 0, (args, code, err)
        assert err == b"", err
        return out

    def json(self, *args: str | bytes) -> Any:
        """Run with ``--json``, require success; stdout must be exactly one JSON document."""
        return json.loads(self.ok("--json", *args))


def assert_one_error_line(code: int, err: bytes, *, expected_code: int = 1) -> str:
    """A failure as the CLI contract has it: the status, one ``snap: error:`` line, no traceback."""
    assert code == expected_code, (code, err)
    text = err.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("snap: error: "), text
    assert text.endswith("\n"), text
    return lines[0]
