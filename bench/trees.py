"""The trees the benchmarks capture: small files in nested folders, and Git checkouts of them.

Shared by ``capture_index.py`` and ``run.py``:

* :func:`build_tree`: N small text files (25 to 350 bytes, each different), 100 per folder,
  nested three folders deep for 100,000 files;
* :func:`build_synthetic`: the same, plus a few binary files of random bytes and an ignored
  ``build/`` folder (named in a root ``.gitignore``) whose files must never be captured;
* :func:`copy_stdlib`: a copy of the running Python's standard library;
* :func:`make_checkout`: make a folder a Git checkout with a few commits of history;
* :func:`make_project_repo`: make a folder a Git checkout with everything in one commit.

Git calls that set up a project run with a fixed author and committer, no system or global
config and no hooks or signing, so nothing in the user's own config can change or break them.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import stat
import subprocess
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from _common import clean_env

FILES_PER_FOLDER = 100
FANOUT = 10

#: A fixed identity and clock for the commits of a generated checkout.
PROJECT_GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}
#: Settings for those commands: whatever the user's config says, no signing and no hooks.
PROJECT_GIT_CONFIG = (
    "commit.gpgsign=false",
    "tag.gpgsign=false",
    "core.hooksPath=/dev/null",
    "init.defaultBranch=main",
    "init.templateDir=",
    "core.autocrlf=false",
    "core.fsmonitor=false",
    "gc.auto=0",
)


def project_git(root: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run git on the project checkout at ``root`` (hermetic, fixed identity); its stdout."""
    argv = ["git"]
    for setting in PROJECT_GIT_CONFIG:
        argv += ["-c", setting]
    done = subprocess.run(
        [*argv, *args],
        cwd=root,
        env=clean_env(PROJECT_GIT_ENV),
        input=input,
        capture_output=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args[:3])} in {root} failed ({done.returncode}): "
            + done.stderr.decode(errors="replace")[-2000:]
        )
    return done.stdout


# --------------------------------------------------------------------------- synthetic trees


def file_path(root: Path, number: int, leaves: int) -> Path:
    """Where file ``number`` lives: nested folders, ``FILES_PER_FOLDER`` files per leaf."""
    depth = max(1, math.ceil(math.log(max(leaves, 2), FANOUT)))
    leaf = number // FILES_PER_FOLDER
    parts = []
    for _ in range(depth):
        leaf, digit = divmod(leaf, FANOUT)
        parts.append(f"d{digit}")
    return root.joinpath(*reversed(parts), f"f{number:06d}.txt")


def build_tree(root: Path, files: int) -> list[Path]:
    """Write ``files`` small files (25 to 350 bytes, each different) under ``root``."""
    leaves = math.ceil(files / FILES_PER_FOLDER)
    paths = [file_path(root, n, leaves) for n in range(files)]
    made: set[Path] = set()
    for number, path in enumerate(paths):
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(f"line {number} of a small file\n".encode() * (1 + number % 12))
    return paths


def build_synthetic(
    root: Path,
    files: int,
    *,
    binaries: int = 5,
    ignored: int = 300,
    seed: int = 20261122,
) -> list[Path]:
    """:func:`build_tree`, plus binary files and an ignored ``build/`` folder; the text files.

    ``binaries`` files of 64 to 512 KiB of random bytes go to ``bin/``; ``ignored`` small files
    go to ``build/``, which a root ``.gitignore`` names, so no capture may take them.
    """
    paths = build_tree(root, files)
    rng = random.Random(seed)
    (root / "bin").mkdir(exist_ok=True)
    for number in range(binaries):
        size = rng.randint(64, 512) * 1024
        (root / "bin" / f"blob{number}.bin").write_bytes(rng.randbytes(size))
    (root / ".gitignore").write_text("build/\n")
    for number in range(ignored):
        folder = root / "build" / f"o{number // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"obj{number:04d}.o").write_bytes(f"object {number}\n".encode() * 4)
    return paths


def ignored_files(root: Path) -> list[str]:
    """The files under ``build/`` (relative paths): none of them may be captured."""
    build = root / "build"
    return sorted(str(p.relative_to(root)) for p in build.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- checkouts


def copy_stdlib(destination: Path, source: Path | None = None) -> list[str]:
    """Copy the running Python's standard library (no ``site-packages``, no ``__pycache__``).

    Only regular files and symbolic links are copied. Returns the copied relative paths.
    """
    source = Path(source or sysconfig.get_paths()["stdlib"])
    copied: list[str] = []
    for folder, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "__pycache__"))
        here = Path(folder)
        relative_folder = here.relative_to(source)
        for name in sorted(names):
            origin = here / name
            info = origin.lstat()
            target = destination / relative_folder / name
            if stat.S_ISLNK(info.st_mode):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(os.readlink(origin), target)
            elif stat.S_ISREG(info.st_mode):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(origin, target)
            else:
                continue
            copied.append(str(relative_folder / name))
    return copied


def make_checkout(root: Path, paths: Sequence[str], *, modify_every: int = 25) -> dict[str, int]:
    """Make ``root`` a Git checkout whose history has three commits over ``paths``.

    The first commit holds the first half of the (sorted) paths, the second the rest, and the
    third appends a line to every ``modify_every``-th regular file. Returns what was done.
    """
    ordered = sorted(paths)
    half = len(ordered) // 2
    project_git(root, "init", "--quiet")
    # update-index takes exact paths (``git add`` would match each one as a pathspec).
    project_git(
        root,
        "update-index",
        "--add",
        "-z",
        "--stdin",
        input=b"".join(os.fsencode(p) + b"\0" for p in ordered[:half]),
    )
    project_git(root, "commit", "--quiet", "--no-verify", "-m", "first half")
    project_git(root, "add", "--all")
    project_git(root, "commit", "--quiet", "--no-verify", "-m", "the rest")
    modified = 0
    for path in ordered[::modify_every]:
        full = root / path
        if full.is_symlink() or not full.is_file():
            continue
        with full.open("ab") as handle:
            handle.write(b"\n# modified by the benchmark's third commit\n")
        modified += 1
    project_git(root, "commit", "--quiet", "--no-verify", "-a", "-m", "modify some files")
    return {"files": len(ordered), "commits": 3, "modified_in_third_commit": modified}


def make_project_repo(root: Path) -> None:
    """Make the tree a Git checkout of its own, with everything committed."""
    project_git(root, "init", "--quiet")
    project_git(root, "add", "--all")
    project_git(root, "commit", "--quiet", "--no-verify", "-m", "tree")


def link_copy(source: Path, destination: Path) -> None:
    """Copy a repository: objects as hard links (git never rewrites one), the rest as copies.

    Stat data survives the copy (``copy2``), so an index copied this way is as warm as its
    original.
    """

    def copy(src: str, dst: str) -> None:
        if os.path.relpath(src, source).split(os.sep)[0] == "objects":
            try:
                os.link(src, dst)
                return
            except OSError:
                pass
        shutil.copy2(src, dst)

    shutil.copytree(source, destination, symlinks=True, copy_function=copy)
