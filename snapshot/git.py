"""The git plumbing: every git child process the store runs goes through here, and procio.

Git runs hermetically against the store: no system or global config, no hooks, no filters,
no end-of-line conversion, literal pathspecs, and every inherited ``GIT_*`` variable removed,
so nothing a user has configured can change what is captured or let a change go unnoticed.
The one user setting honoured is ``core.excludesFile``, passed in by the caller.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

import procio
from snapshot.errors import GitFailed

#: Settings forced on every store command, whatever the user's config or attributes say.
HERMETIC_CONFIG: tuple[str, ...] = (
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.eol=lf",
    "core.fileMode=true",
    "core.symlinks=true",
    "core.ignoreCase=false",
    "core.precomposeUnicode=false",
    "core.protectNTFS=false",
    "core.protectHFS=false",
    "core.checkStat=default",
    "core.trustctime=true",
    "core.untrackedCache=false",
    "core.fsmonitor=false",
    "core.splitIndex=false",
    "core.sparseCheckout=false",
    "core.quotePath=false",
    "core.hooksPath=/dev/null",
    "core.attributesFile=/dev/null",
    "core.logAllRefUpdates=false",
    "core.fsyncMethod=batch",
    "core.fsync=committed",
    "index.sparse=false",
    "feature.manyFiles=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "advice.addEmbeddedRepo=false",
    "advice.addIgnoredFile=false",
    "init.templateDir=",
)

#: Attributes that override any ``.gitattributes`` in the tree: bytes go in exactly as they are.
NEUTRAL_ATTRIBUTES = "* -text -eol -filter -ident -working-tree-encoding\n"

#: The global config the store's git reads instead of the user's: it trusts the store.
STORE_GLOBAL_CONFIG = "[safe]\n\tdirectory = *\n"

ZERO_OID = "0" * 40

#: Descriptors every git child inherits while set: the store lock's, during a write, so that
#: a git child outliving a killed ``snap`` (an orphaned ``prune``) keeps the store locked.
INHERITED_FDS: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar(
    "snapshot_inherited_fds", default=()
)
#: Paths passed to one git command line at most (``ls-files`` reads no pathspec file).
ARGS_PER_CALL = 1000
#: Git output the store reads (file lists of very large trees) may be long.
MAX_OUTPUT = 1 << 30


def hermetic_env(overrides: Mapping[str, str]) -> dict[str, str | None]:
    """Environment overrides that drop every inherited ``GIT_*`` variable, then set ours."""
    env: dict[str, str | None] = {
        key: None for key in os.environ if key.startswith("GIT_") and key != "GIT_EXEC_PATH"
    }
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_SYSTEM": os.devnull,
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_LITERAL_PATHSPECS": "1",
            "LC_ALL": "C",
        }
    )
    env.update(overrides)
    return env


class StoreGit:
    """Runs git against one store (a bare repository) and one working tree."""

    def __init__(self, git_dir: Path, worktree: Path, excludes_file: str | None) -> None:
        self.git_dir = git_dir
        self.worktree = worktree
        #: The user's ``core.excludesFile``, the one setting of theirs the store reads.
        self.excludes_file = Path(excludes_file) if excludes_file else None
        self._config = [
            *HERMETIC_CONFIG,
            f"core.excludesFile={excludes_file or os.devnull}",
        ]
        self._env = {
            "GIT_DIR": str(git_dir),
            "GIT_WORK_TREE": str(worktree),
            "GIT_CONFIG_GLOBAL": str(git_dir / "snap" / "global.gitconfig"),
        }

    async def run(
        self,
        *args: str,
        input: bytes | None = None,
        index: Path | None = None,
        objects: Path | None = None,
        borrow: Path | None = None,
        config: Sequence[str] = (),
        ok_codes: Sequence[int] = (0,),
    ) -> procio.Result:
        """Run one git command in the store; raise :class:`GitFailed` unless it exits well.

        ``objects`` sends new objects to a quarantine folder; ``borrow`` lets git read objects
        from another object folder (the project's own) without copying them.
        """
        overrides = dict(self._env)
        if index is not None:
            overrides["GIT_INDEX_FILE"] = str(index)
        alternates = []
        if objects is not None:
            overrides["GIT_OBJECT_DIRECTORY"] = str(objects)
            alternates.append(str(self.git_dir / "objects"))
        if borrow is not None:
            alternates.append(str(borrow))
        if alternates:
            overrides["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = os.pathsep.join(alternates)
        argv = ["git"]
        for setting in (*self._config, *config):
            argv += ["-c", setting]
        argv += args
        try:
            result = await procio.run(
                argv,
                input=input,
                env=hermetic_env(overrides),
                cwd=self.worktree,
                max_output=MAX_OUTPUT,
                pass_fds=INHERITED_FDS.get(),
            )
        except procio.ProcError as exc:
            raise GitFailed(str(exc)) from None
        if result.returncode not in ok_codes or result.timed_out or result.output_limit_exceeded:
            raise GitFailed(describe(args, result))
        return result

    async def out(
        self,
        *args: str,
        input: bytes | None = None,
        index: Path | None = None,
        objects: Path | None = None,
        borrow: Path | None = None,
    ) -> bytes:
        """Run git and return its stdout."""
        result = await self.run(*args, input=input, index=index, objects=objects, borrow=borrow)
        return result.stdout


def describe(args: Sequence[str], result: procio.Result) -> str:
    """What a failed git command was, how it ended, and its own stderr, on one line."""
    outcome = procio.errors.describe_outcome(result)
    tail = procio.errors.stderr_tail(result.stderr).replace("\n", " | ")
    text = f"git {' '.join(args[:4])}{' …' if len(args) > 4 else ''} failed ({outcome})"
    return f"{text}: {tail}" if tail else text


async def _project_git(worktree: Path, *args: str, input: bytes | None = None) -> procio.Result:
    """Read from the project's own repository, with the user's config, never writing to it."""
    return await procio.run(
        ["git", "-c", "core.fsmonitor=false", "-c", "core.quotePath=false", *args],
        input=input,
        cwd=worktree,
        env={
            **{key: None for key in os.environ if key.startswith("GIT_TRACE")},
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_LITERAL_PATHSPECS": "1",
        },
        max_output=MAX_OUTPUT,
    )


async def project_excludes_file(worktree: Path) -> str | None:
    """The ``core.excludesFile`` Git would use for this tree (the user's own config)."""
    result = await _project_git(worktree, "config", "--path", "--get", "core.excludesFile")
    if result.returncode == 0 and result.stdout.strip():
        return os.fsdecode(result.stdout.rstrip(b"\n"))
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    default = os.path.join(xdg, "git", "ignore")
    return default if os.path.isfile(default) else None


@attrs.frozen
class Project:
    """What the store knows of the project's own repository, if the tree is in one.

    ``index`` and ``objects`` are set only when the tree is the repository's top level, so
    that the project's index describes exactly this tree: a first capture may start from it.
    """

    exclude_file: Path | None = None
    is_repo: bool = False
    index: Path | None = None
    objects: Path | None = None


async def project_info(worktree: Path) -> Project:
    """The project's own repository around ``worktree``, as :class:`Project` describes it."""
    result = await _project_git(
        worktree,
        "rev-parse",
        "--show-toplevel",
        "--git-path",
        "info/exclude",
        "--git-path",
        "index",
        "--git-path",
        "objects",
    )
    lines = os.fsdecode(result.stdout).splitlines()
    if result.returncode != 0 or len(lines) < 4:
        return Project()
    top, exclude, index, objects = (Path(line) for line in lines[:4])
    exclude, index, objects = (
        p if p.is_absolute() else worktree / p for p in (exclude, index, objects)
    )
    if os.path.realpath(top) != os.path.realpath(worktree) or os.pathsep in str(objects):
        return Project(exclude_file=exclude, is_repo=True)
    return Project(exclude_file=exclude, is_repo=True, index=index, objects=objects)


async def project_tracked_ignored(
    worktree: Path, paths: Sequence[bytes] | None = None
) -> list[bytes]:
    """Files the project's own Git tracks although an ignore rule matches them (relative
    paths), in the whole tree or under ``paths`` only."""
    batches = (
        [None]
        if paths is None
        else [
            [os.fsdecode(p) for p in paths[start : start + ARGS_PER_CALL]]
            for start in range(0, len(paths), ARGS_PER_CALL)
        ]
    )
    found: list[bytes] = []
    for batch in batches:
        pathspec = [] if batch is None else ["--", *batch]
        result = await _project_git(
            worktree, "ls-files", "-z", "--cached", "--ignored", "--exclude-standard", *pathspec
        )
        if result.returncode == 0:
            found += [p for p in result.stdout.split(b"\0") if p]
    return found


async def project_tracked(worktree: Path, paths: list[bytes]) -> set[bytes]:
    """Which of ``paths`` the project's own Git tracks (those are never size-limited)."""
    tracked: set[bytes] = set()
    for start in range(0, len(paths), ARGS_PER_CALL):
        batch = [os.fsdecode(path) for path in paths[start : start + ARGS_PER_CALL]]
        result = await _project_git(worktree, "ls-files", "-z", "--cached", "--", *batch)
        if result.returncode == 0:
            tracked.update(p for p in result.stdout.split(b"\0") if p)
    return tracked
