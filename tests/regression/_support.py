"""Helpers shared by the regression suite: file models, Git's hashes, tree reading, CLI runners.

Everything here works on real files and real processes; the hashes are computed the way Git
computes them (``blob <size>\\0`` and ``tree <size>\\0`` objects), so a model can say which tree
hash a capture must produce without asking Git or the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The project's root (``tests/regression/_support.py`` → two levels up).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True)
class File:
    """A regular file: its bytes and whether it is executable."""

    data: bytes
    exe: bool = False


@dataclass(frozen=True)
class Link:
    """A symbolic link and its target (never followed)."""

    target: bytes


Node = File | Link


def blob_id(data: bytes) -> str:
    """The Git blob id of ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def node_mode(node: Node) -> bytes:
    """The Git file mode of a node."""
    if isinstance(node, Link):
        return b"120000"
    return b"100755" if node.exe else b"100644"


def node_bytes(node: Node) -> bytes:
    """What Git stores for a node: a file's bytes or a link's target."""
    return node.target if isinstance(node, Link) else node.data


def tree_id(entries: Mapping[bytes, Node]) -> str:
    """The Git tree id of a set of files (paths as bytes, ``/``-separated)."""
    root: dict[bytes, object] = {}
    for path, node in entries.items():
        parts = path.split(b"/")
        folder = root
        for part in parts[:-1]:
            child = folder.setdefault(part, {})
            assert isinstance(child, dict), f"{path!r} lies under a file"
            folder = child
        folder[parts[-1]] = node

    def write(folder: dict[bytes, object]) -> bytes:
        items = []
        for name, value in folder.items():
            if isinstance(value, dict):
                items.append((name + b"/", b"40000", name, write(value)))
            else:
                assert isinstance(value, File | Link)
                items.append(
                    (name, node_mode(value), name, bytes.fromhex(blob_id(node_bytes(value))))
                )
        items.sort(key=lambda item: item[0])
        body = b"".join(mode + b" " + name + b"\0" + raw for _, mode, name, raw in items)
        return hashlib.sha1(b"tree %d\0" % len(body) + body).digest()

    return write(root).hex()


def read_tree(root: Path, git_dirs: Iterable[bytes] = ()) -> dict[bytes, Node]:
    """Every file and link under ``root`` (folders implied), skipping the named ``.git`` folders.

    ``git_dirs`` are the folders (relative, ``b""`` for the root) whose ``.git`` is skipped: the
    project's own and those of nested repositories. Any other ``.git`` is read like a file.
    """
    skip = {b"", *git_dirs}
    found: dict[bytes, Node] = {}
    base = os.fsencode(root)

    def walk(relative: bytes) -> None:
        with os.scandir(os.path.join(base, relative) if relative else base) as entries:
            for entry in entries:
                path = relative + b"/" + entry.name if relative else entry.name
                if entry.name == b".git" and relative in skip:
                    continue
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    found[path] = Link(os.readlink(entry.path))
                elif stat.S_ISDIR(info.st_mode):
                    walk(path)
                elif stat.S_ISREG(info.st_mode):
                    with open(entry.path, "rb") as handle:
                        found[path] = File(handle.read(), bool(info.st_mode & stat.S_IXUSR))
                else:
                    raise AssertionError(f"unexpected file type at {path!r}")

    walk(b"")
    return found


def write_node(root: Path, path: bytes, node: Node) -> None:
    """Create ``path`` (its folders must exist and nothing may stand there) as ``node``."""
    full = os.path.join(os.fsencode(root), path)
    if isinstance(node, Link):
        os.symlink(node.target, full)
        return
    with open(full, "wb") as handle:
        handle.write(node.data)
    os.chmod(full, 0o755 if node.exe else 0o644)


def fingerprint(root: Path, *, exclude: Sequence[Path] = ()) -> dict[bytes, tuple[object, ...]]:
    """Every entry under ``root`` with its kind, mode, mtime and bytes (or link target).

    Folders are listed with their mtime too, so a file created and removed again (a lock)
    shows. ``exclude`` names folders left out (a store inside the home folder).
    """
    skipped = {os.fsencode(path) for path in exclude}
    seen: dict[bytes, tuple[object, ...]] = {}
    base = os.fsencode(root)
    if not os.path.lexists(base):
        return seen
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in skipped]
        for name in dirs + files:
            full = os.path.join(folder, name)
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                content: bytes = os.readlink(full)
            elif stat.S_ISREG(info.st_mode):
                with open(full, "rb") as handle:
                    content = handle.read()
            else:
                content = b""
            seen[os.path.relpath(full, base)] = (info.st_mode, info.st_mtime_ns, content)
    return seen


def fingerprint_changes(
    before: Mapping[bytes, tuple[object, ...]], after: Mapping[bytes, tuple[object, ...]]
) -> list[str]:
    """What differs between two fingerprints, readably."""
    changes = [f"new {p!r}" for p in sorted(after.keys() - before.keys())]
    changes += [f"gone {p!r}" for p in sorted(before.keys() - after.keys())]
    changes += [
        f"changed {p!r}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
    ]
    return changes


def remove(path: bytes | str | Path) -> None:
    """Remove whatever stands at ``path`` (a file, a link, a folder tree); a missing one is fine."""
    target = os.fsencode(path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(target)
    else:
        os.unlink(target)


# ------------------------------------------------------------------------------ processes


def child_env(**overrides: str | None) -> dict[str, str]:
    """The environment for a child ``snap`` or ``git``: ours, with the project importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("SNAP_DEBUG", None)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def snap_argv(tree: Path, store: Path, *args: str) -> list[str]:
    """The command line of the real CLI for one tree and store."""
    return [sys.executable, "-m", "snapshot.cli", "-C", str(tree), "--store", str(store), *args]


def snap(
    tree: Path,
    store: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run the real CLI (``python -m snapshot.cli``) and return what it did, without checking."""
    return subprocess.run(
        snap_argv(tree, store, *args),
        capture_output=True,
        env=dict(env) if env is not None else child_env(),
        cwd=PROJECT_ROOT,
        timeout=timeout,
        check=False,
    )


def snap_json(tree: Path, store: Path, *args: str, **options: object) -> object:
    """Run the CLI with ``--json``; require exit 0 and return the document."""
    result = snap(tree, store, "--json", *args, **options)  # type: ignore[arg-type]
    assert result.returncode == 0, (args, result.returncode, result.stderr.decode(errors="replace"))
    return json.loads(result.stdout)


def git(*args: str | bytes, cwd: Path | None = None, input: bytes | None = None) -> bytes:
    """Run git (with the test's clean environment); require success and return stdout."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, check=False, env=child_env()
    )
    assert result.returncode == 0, (args, result.stderr.decode(errors="replace"))
    return result.stdout


def wait_for(predicate: object, timeout: float = 10.0, interval: float = 0.01) -> bool:
    """Poll ``predicate()`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


_FORK_SERVER = r"""
import json, os, sys, traceback
import snapshot.cli
replies = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            for fd, name in ((1, "out"), (2, "err")):
                handle = os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(handle, fd)
                os.close(handle)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            code = snapshot.cli.main(request["argv"])
            sys.stdout.flush()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 98
        finally:
            os._exit(code)
    replies.write(json.dumps({"pid": pid}) + "\n")
    replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
    replies.flush()
"""


class CliForkServer:
    """A second process that runs the real CLI on request, forked from a warm interpreter.

    Starting Python and importing the store takes about half a second; a model test that wants
    "a capture from another process, at the same time" many times cannot pay that per step. The
    server imports ``snapshot.cli`` once and forks a fresh child per request, which runs
    ``snapshot.cli.main(argv)`` exactly as ``python -m snapshot.cli`` would: its own pid, its
    own event loop, its own lock handle.
    """

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
            cwd=PROJECT_ROOT,
        )
        self._count = 0
        self._pending = False

    def start(self, argv: Sequence[str]) -> int:
        """Fork a child running the CLI with ``argv``; return its pid once it exists."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        if self._pending:  # a caller that failed between start and finish
            self.finish()
        self._count += 1
        self._out = self._scratch / f"out-{self._count}"
        self._err = self._scratch / f"err-{self._count}"
        request = {"argv": list(argv), "out": str(self._out), "err": str(self._err)}
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        self._proc.stdin.flush()
        self._pending = True
        return int(json.loads(self._proc.stdout.readline())["pid"])

    def finish(self) -> tuple[int, bytes, bytes]:
        """Wait for the child started last; return its exit status, stdout and stderr."""
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        assert line, "the fork server died"
        self._pending = False
        code = int(json.loads(line)["code"])
        return code, self._out.read_bytes(), self._err.read_bytes()

    def close(self) -> None:
        """Stop the server."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
