"""Git as the oracle: walk real history and require captures to be Git's own trees.

A history of a few hundred commits is generated with ``git fast-import`` (adds, edits,
deletions, renames, executable bits, symbolic links, deep folders, hostile names, and a
``.gitignore`` that comes and goes and matches files the history tracks). For each of the last
N commits (more with ``HYPOTHESIS_PROFILE=long``):

* in a plain folder (``git archive | tar -x``, no repository): the capture's tree is the
  commit's tree whenever no ignore rule matches one of its files, and otherwise exactly what
  Git itself gives for that folder (the commit's tree without the files ``.gitignore``
  matches); ``snap diff --name-status`` and ``--numstat`` between consecutive captures equal
  ``git diff --no-renames`` between the two trees;
* in a Git checkout of the same repository: files Git tracks although ``.gitignore`` matches
  them are captured, so the capture is ``COMMIT^{tree}`` every time, and the diff between
  consecutive captures is ``git diff --no-renames COMMIT1 COMMIT2``.

The project's own clone is walked the same way too (its last N commits, all of them while it
has fewer); until it has 20 commits or so, the generated history is the one that matters.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from snapshot import SyncStore

from ._support import PROJECT_ROOT, child_env, fingerprint, git, remove, snap

HISTORY = 300
#: Commits walked: about 30 in CI, more under the long profile.
WALK = (
    30 if settings.default.max_examples <= 25 else min(HISTORY, settings.default.max_examples // 2)
)

NAMES = [
    "a",
    "b",
    "src",
    "lib",
    "deep",
    "build",
    "x.log",
    "sp ace",
    "tab\tname",
    "new\nline",
    "-lead",
    "*",
    "?",
    "[",
    ":(exclude)x",
    "é",
    'quote"d',
    "back\\slash",
]
RAW_NAMES = [os.fsencode(name) for name in NAMES] + [b"\xff\xfe-raw", b"caf\xe9"]
GITIGNORES = [b"*.log\nbuild/\n", b"*.log\n", b"build/\n"]


def _quote(path: bytes) -> bytes:
    """A path as ``git fast-import`` reads it: C-quoted, every unusual byte in octal."""
    out = bytearray(b'"')
    for byte in path:
        if byte in (0x22, 0x5C):
            out += b"\\" + bytes([byte])
        elif 0x20 <= byte < 0x7F:
            out.append(byte)
        else:
            out += b"\\%03o" % byte
    return bytes(out + b'"')


def _random_content(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.1:
        return b""
    if kind < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + b"\0"
    lines = [rng.choice([b"alpha", b"beta", b"gamma", b"", b"delta epsilon", b"\xc3\xa9t\xc3\xa9"])]
    lines += [rng.choice([b"one", b"two", b"three", b"four"]) for _ in range(rng.randrange(12))]
    text = b"\n".join(lines)
    return text if rng.random() < 0.2 else text + b"\n"


def _place(
    files: dict[bytes, tuple[bytes, bytes]], path: bytes, entry: tuple[bytes, bytes]
) -> None:
    """Put a file at ``path``, removing files where its folders go and files under it."""
    parts = path.split(b"/")
    for depth in range(1, len(parts)):
        files.pop(b"/".join(parts[:depth]), None)
    for other in [p for p in files if p.startswith(path + b"/")]:
        del files[other]
    files[path] = entry


def generate_history(repo: Path, commits: int, seed: int) -> list[str]:
    """Create ``repo`` with ``commits`` random commits on ``main``; return them, oldest first."""
    rng = random.Random(seed)
    git("init", "-q", "-b", "main", str(repo))
    files: dict[bytes, tuple[bytes, bytes]] = {}
    blobs: dict[bytes, int] = {}
    stream = bytearray()

    def blob(data: bytes) -> int:
        if data not in blobs:
            blobs[data] = len(blobs) + 1
            stream.extend(b"blob\nmark :%d\ndata %d\n%s\n" % (blobs[data], len(data), data))
        return blobs[data]

    def new_path() -> bytes:
        depth = rng.choice([1, 1, 2, 2, 3, 5, 8])
        return b"/".join(rng.choice(RAW_NAMES) for _ in range(depth))

    for number in range(commits):
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            plain = sorted(p for p in files if p != b".gitignore")
            if op < 0.3 or not plain:
                _place(files, new_path(), (b"100644", _random_content(rng)))
            elif op < 0.5:
                path = rng.choice(plain)
                _place(files, path, (files[path][0], _random_content(rng)))
            elif op < 0.6:
                del files[rng.choice(plain)]
            elif op < 0.7:
                path = rng.choice(plain)
                _place(files, new_path(), files.pop(path))
            elif op < 0.8:
                path = rng.choice(plain)
                mode, data = files[path]
                if mode != b"120000":
                    files[path] = (b"100644" if mode == b"100755" else b"100755", data)
            elif op < 0.9:
                target = rng.choice(
                    [rng.choice(plain), b"../" + rng.choice(plain), b"nowhere", b"/etc"]
                )
                _place(files, new_path(), (b"120000", target))
            elif b".gitignore" in files:
                del files[b".gitignore"]
            else:
                _place(files, b".gitignore", (b"100644", rng.choice(GITIGNORES)))
        lines = [
            b"M %s :%d %s\n" % (mode, blob(data), _quote(p)) for p, (mode, data) in files.items()
        ]
        when = 1_600_000_000 + number * 60
        message = b"commit %d" % number
        stream += b"commit refs/heads/main\nmark :%d\n" % (100_000 + number)
        stream += b"committer Test <test@example.invalid> %d +0000\n" % when
        stream += b"data %d\n%s\n" % (len(message), message)
        if number:
            stream += b"from :%d\n" % (100_000 + number - 1)
        stream += b"deleteall\n" + b"".join(lines) + b"\n"
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        input=bytes(stream),
        cwd=repo,
        check=True,
        env=child_env(),
    )
    return git("rev-list", "--reverse", "main", cwd=repo).decode().split()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A generated repository and its commits, oldest first."""
    repo = tmp_path_factory.mktemp("history") / "repo"
    commits = generate_history(repo, HISTORY, seed=20240601)
    assert len(commits) == HISTORY
    yield repo, commits


def _extract(git_dir: Path, commit: str, folder: Path) -> None:
    """Make ``folder`` hold exactly the files of ``commit`` (a plain folder, no repository)."""
    for entry in os.listdir(folder):
        remove(folder / entry)
    archive = subprocess.Popen(
        ["git", "--git-dir", str(git_dir), "archive", "--format=tar", commit],
        stdout=subprocess.PIPE,
        env=child_env(),
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout, check=True)
    assert archive.stdout is not None
    archive.stdout.close()
    assert archive.wait() == 0


def _git_expected_tree(git_dir: Path, commit: str, folder: Path, scratch: Path) -> str:
    """Git's own answer for a plain folder holding ``commit``: its tree without ignored files.

    Runs with a scratch index and a scratch object folder, so the repository is not written.
    """
    (scratch / "objects").mkdir(parents=True, exist_ok=True)
    env = child_env(
        GIT_DIR=str(git_dir),
        GIT_INDEX_FILE=str(scratch / "index"),
        GIT_WORK_TREE=str(folder),
        GIT_OBJECT_DIRECTORY=str(scratch / "objects"),
        GIT_ALTERNATE_OBJECT_DIRECTORIES=str(git_dir / "objects"),
        GIT_LITERAL_PATHSPECS="1",
    )

    def run(*args: str, input: bytes | None = None) -> bytes:
        done = subprocess.run(
            ["git", *args], cwd=folder, env=env, input=input, check=False, capture_output=True
        )
        assert done.returncode == 0, (args, done.stderr.decode(errors="replace"))
        return done.stdout

    run("read-tree", commit)
    ignored = run("ls-files", "-z", "--cached", "--ignored", "--exclude-standard")
    if ignored.strip(b"\0"):
        run("rm", "-q", "--cached", "--pathspec-from-file=-", "--pathspec-file-nul", input=ignored)
    return run("write-tree").decode().strip()


def _git_diff(git_dir: Path, old: str, new: str, *options: str) -> bytes:
    """``git diff --no-renames`` between two trees or commits of a repository."""
    return git(
        "--git-dir",
        str(git_dir),
        "diff",
        "--no-renames",
        *options,
        old,
        new,
    )


def _numstat(changes: object) -> bytes:
    """``git diff --numstat -z`` from the store's structured list."""
    out = bytearray()
    for change in changes:  # type: ignore[attr-defined]
        counts = b"-\t-" if change.binary else b"%d\t%d" % (change.additions, change.deletions)
        out += counts + b"\t" + os.fsencode(change.path) + b"\0"
    return bytes(out)


def _check_diff(
    store: SyncStore, git_dir: Path, old: tuple[str, str], new: tuple[str, str]
) -> None:
    """The store's diff of two snapshots equals ``git diff --no-renames`` of two trees/commits."""
    (old_id, old_git), (new_id, new_git) = old, new
    diff = store.diff(old_id, new_id)
    assert diff.name_status(nul=True) == _git_diff(git_dir, old_git, new_git, "--name-status", "-z")
    assert diff.name_status() == _git_diff(git_dir, old_git, new_git, "--name-status")
    assert _numstat(diff.changes) == _git_diff(git_dir, old_git, new_git, "--numstat", "-z")


def _walk_plain(git_dir: Path, commits: list[str], tmp_path: Path) -> int:
    """Capture each commit through one plain folder; return how many equal the commit's tree."""
    folder = tmp_path / "plain"
    folder.mkdir()
    store_dir = tmp_path / "store"
    store = SyncStore.open(folder, store=store_dir)
    previous: tuple[str, str] | None = None
    exact = 0
    for commit in commits:
        _extract(git_dir, commit, folder)
        snapshot = store.capture(commit)
        expected = _git_expected_tree(git_dir, commit, folder, tmp_path / "oracle")
        assert snapshot.tree == expected, commit
        assert snapshot.skipped == ()
        commit_tree = git("--git-dir", str(git_dir), "rev-parse", f"{commit}^{{tree}}")
        exact += expected == commit_tree.decode().strip()
        if previous is not None:
            # Git diffs the captured trees in the store, where they are (equal to its own).
            _check_diff(store, store_dir, previous, (snapshot.id, snapshot.tree))
        previous = (snapshot.id, snapshot.tree)
    return exact


def test_plain_folder_captures_are_gits_trees(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """Walk the last N commits through one plain folder, capturing each (warm, seeded)."""
    repo, commits = history
    exact = _walk_plain(repo / ".git", commits[-WALK:], tmp_path)
    # The walk covered both kinds of commit: with and without tracked files that are ignored.
    assert 0 < exact < WALK, exact


def test_checkout_captures_are_commit_trees(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """In a Git checkout, files tracked although ignored are captured: tree == COMMIT^{tree}."""
    repo, commits = history
    clone = tmp_path / "clone"
    git("clone", "-q", "--no-checkout", str(repo), str(clone))
    store = SyncStore.open(clone, store=tmp_path / "store")
    previous: tuple[str, str] | None = None
    tracked_ignored = 0
    for commit in commits[-WALK:]:
        git("checkout", "-q", "-f", "--detach", commit, cwd=clone)
        project = fingerprint(clone / ".git")
        snapshot = store.capture(commit)
        assert fingerprint(clone / ".git") == project, "the capture wrote to the project's .git"
        assert snapshot.tree == git("rev-parse", f"{commit}^{{tree}}", cwd=repo).decode().strip()
        ignored = git("ls-files", "-z", "-c", "-i", "--exclude-standard", cwd=clone)
        tracked_ignored += bool(ignored.strip(b"\0"))
        if previous is not None:
            _check_diff(store, repo / ".git", previous, (snapshot.id, commit))
        previous = (snapshot.id, commit)
    assert tracked_ignored, "no commit had a tracked file that .gitignore matches"


def test_cli_diff_between_captures_is_git_diff(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """``snap diff --name-status`` (and ``-z``) through the real CLI, for a few commit pairs."""
    repo, commits = history
    clone = tmp_path / "clone"
    git("clone", "-q", "--no-checkout", str(repo), str(clone))
    store_dir = tmp_path / "store"
    walked = commits[-4:]
    ids = []
    for commit in walked:
        git("checkout", "-q", "-f", "--detach", commit, cwd=clone)
        result = snap(clone, store_dir, "--json", "capture", "-m", commit)
        assert result.returncode == 0, result.stderr
        ids.append(json.loads(result.stdout)["id"])
    for index in range(1, len(walked)):
        for options in (["--name-status"], ["--name-status", "-z"]):
            result = snap(clone, store_dir, "diff", *options, ids[index - 1], ids[index])
            assert result.returncode == 0 and result.stderr == b"", result.stderr
            expected = _git_diff(repo / ".git", walked[index - 1], walked[index], *options)
            assert result.stdout == expected


def test_project_history(tmp_path: Path) -> None:
    """The project's own clone: its last commits (all of them when fewer than N) walked too."""
    git_dir = Path(git("rev-parse", "--absolute-git-dir", cwd=PROJECT_ROOT).decode().strip())
    commits = git("rev-list", "--reverse", f"--max-count={WALK}", "HEAD", cwd=PROJECT_ROOT)
    _walk_plain(git_dir, commits.decode().split(), tmp_path)
