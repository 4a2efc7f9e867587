"""snap against the designs it replaces: seven goals measured in one run, one RESULTS.md.

Every goal runs its variants interleaved round by round (A B C A B C ...), so that drift on a
noisy shared machine hits them all alike; the figures are medians with min and max, and each
goal's target is judged on a ratio of medians. The goals (see bench/README.md):

1. warm capture of the big tree, unchanged and with 10 files changed, against (a) a shared
   persistent index, (b) a fresh empty index and (d) ``git status --porcelain``;
2. the first capture of a Git checkout (a copy of the standard library with history) against
   (b) hashing every file into a new bare repository, and the size of both on disk;
3. a capture hinted with the 10 changed paths against a full warm capture;
4. a structured diff of 1,000 changed files with before and after text against (c) one
   ``git show`` per file and side;
5. CLI start-up: ``snap --help`` against ``python -c pass``;
6. peak memory of a first and of a warm capture of the big tree, in a child process;
7. store growth over 100 captures of 10 changed files, and after ``gc``.

Goals 1 to 4 measure the library (one long-lived process; the baselines as git processes
started from it) and the command line (``snap`` processes against the baselines' git run as
``sh -c`` pipelines). Trees agree or the run says so loudly and exits 1.

Run: ``.venv/bin/python bench/run.py`` (10–15 minutes here), ``--quick`` (under a minute),
``--only 1,3``, ``--reps N``, ``--files N``, ``--workdir DIR``, ``--results-dir DIR``, ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from _common import (
    RESULTS_DIR,
    ROOT,
    clean_env,
    disk_usage,
    interleave,
    loose_objects,
    machine,
    stats,
)
from trees import (
    PROJECT_GIT_ENV,
    build_synthetic,
    build_tree,
    copy_stdlib,
    ignored_files,
    link_copy,
    make_checkout,
    project_git,
)

from snapshot import Store, SyncStore
from snapshot.git import HERMETIC_CONFIG, hermetic_env, project_excludes_file

GOALS = {
    1: "Warm capture of the big tree",
    2: "First capture of a Git checkout",
    3: "Hinted capture",
    4: "Structured diff of 1,000 changed files",
    5: "CLI start-up",
    6: "Peak memory of a capture",
    7: "Store growth on disk",
}
#: The markdown's default home; the JSON goes to ``bench/results/`` (ignored by git).
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
PYTHON = sys.executable
SNAP = str(Path(sys.executable).parent / "snap")
CAPTURED = re.compile(r"\(tree ([0-9a-f]{40,64})\)")
MB = 1e6
#: How the markdown prints a target's comparison.
OPS = {"<=": "≤", ">=": "≥", "<": "<"}


@dataclasses.dataclass(frozen=True)
class Params:
    """The sizes of one run."""

    quick: bool
    reps: int
    big_files: int
    small_files: int
    touched: int
    diff_changed: int
    startup_runs: int
    disk_captures: int
    disk_sample_every: int
    binaries: int
    ignored: int
    pause: float
    stdlib: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Params:
        quick = args.quick
        big = args.files or (300 if quick else 100_000)
        small = 300 if quick else min(10_000, big)
        return cls(
            quick=quick,
            reps=args.reps or (2 if quick else 5),
            big_files=big,
            small_files=small,
            touched=10,
            diff_changed=min(100 if quick else 1000, small // 2),
            startup_runs=max(args.reps or 0, 10 if quick else 20),
            disk_captures=10 if quick else 100,
            disk_sample_every=1 if quick else 10,
            binaries=5,
            ignored=100 if quick else 300,
            # Files written in the second an index is written are "racily clean" (git hashes
            # them again next time): pausing past that second keeps warm figures warm.
            pause=0.0 if quick else 1.1,
            stdlib=not quick,
        )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def size_name(files: int) -> str:
    return f"{files // 1000}k" if files >= 1000 and files % 1000 == 0 else str(files)


# --------------------------------------------------------------------------- git baselines


class Baseline:
    """One baseline's git: its own bare repository and index, with the store's hermetic settings.

    The same ``-c`` settings as :data:`snapshot.git.HERMETIC_CONFIG` and the same scrubbed
    environment as the store's git (``hermetic_env``), so both sides do the same work.
    """

    def __init__(self, git_dir: Path, worktree: Path, index: Path, excludes: str | None) -> None:
        self.git_dir = git_dir
        self.worktree = worktree
        self.index = index
        self.config = [*HERMETIC_CONFIG, f"core.excludesFile={excludes or os.devnull}"]
        env = clean_env()
        overrides = {
            "GIT_DIR": str(git_dir),
            "GIT_WORK_TREE": str(worktree),
            "GIT_INDEX_FILE": str(index),
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        for key, value in hermetic_env(overrides).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        self.env = env
        #: ``git status`` may write the index it refreshed, as it would in a checkout.
        self.status_env = {k: v for k, v in env.items() if k != "GIT_OPTIONAL_LOCKS"}
        self.init_env = {
            k: v for k, v in env.items() if k not in ("GIT_WORK_TREE", "GIT_INDEX_FILE")
        }

    def argv(self, *args: str) -> list[str]:
        argv = ["git"]
        for setting in self.config:
            argv += ["-c", setting]
        return [*argv, *args]

    def git(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> bytes:
        done = subprocess.run(
            self.argv(*args),
            input=input,
            cwd=self.worktree,
            env=env or self.env,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"git {' '.join(args[:3])} failed ({done.returncode}): "
                + done.stderr.decode(errors="replace")[-1500:]
            )
        return done.stdout

    def init(self) -> None:
        self.git("init", "--bare", "--quiet", str(self.git_dir), env=self.init_env)

    def add_and_write(self) -> str:
        """(a): ``git add --all`` + ``git write-tree`` into this baseline's index."""
        self.git("add", "--all")
        return self.git("write-tree").decode().strip()

    def clear_index(self) -> None:
        for path in (self.index, self.index.with_name(self.index.name + ".lock")):
            path.unlink(missing_ok=True)

    def fresh_add_and_write(self) -> str:
        """(b): the same into an empty index, deleted afterwards."""
        self.clear_index()
        try:
            return self.add_and_write()
        finally:
            self.clear_index()

    def status(self) -> bytes:
        """(d): ``git status --porcelain`` against this baseline's index."""
        return self.git("status", "--porcelain", env=self.status_env)

    def shell(self, body: str) -> list[str]:
        """``sh -c`` running ``body``, where ``g`` is git with this baseline's settings."""
        settings = " ".join(f"-c {shlex.quote(s)}" for s in self.config)
        return ["sh", "-c", f'g() {{ git {settings} "$@"; }}\n{body}']

    def sh(self, body: str, *, env: dict[str, str] | None = None) -> bytes:
        done = subprocess.run(
            self.shell(body),
            cwd=self.worktree,
            env=env or self.env,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"sh -c {body!r} failed ({done.returncode}): "
                + done.stderr.decode(errors="replace")[-1500:]
            )
        return done.stdout


#: The command-line forms of the baselines.
SH_ADD_WRITE = "g add --all && g write-tree"
SH_FRESH = 'rm -f "$GIT_INDEX_FILE" && g add --all && g write-tree && rm -f "$GIT_INDEX_FILE"'
SH_STATUS = "g status --porcelain"
SH_INIT_FRESH = (
    '(unset GIT_WORK_TREE GIT_INDEX_FILE; g init --bare --quiet "$GIT_DIR") && ' + SH_FRESH
)


def worktree_changes(porcelain: bytes) -> int:
    """Entries ``git status --porcelain`` reports as changed in the working tree."""
    return sum(1 for line in porcelain.splitlines() if len(line) > 3 and line[1:2] != b" ")


def recording(
    actions: dict[str, Callable[[], Any]], outputs: dict[str, Any]
) -> dict[str, Callable[[], None]]:
    """Each action as a variant that keeps what it returned in ``outputs`` (for checks after)."""

    def keep(name: str, action: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            outputs[name] = action()

        return run

    return {name: keep(name, action) for name, action in actions.items()}


# --------------------------------------------------------------------------- snap processes


def snap_cli(tree: Path, store: Path, *args: str) -> bytes:
    """Run ``snap -C TREE --store STORE ARGS...``; its stdout."""
    done = subprocess.run(
        [SNAP, "-C", str(tree), "--store", str(store), *args],
        env=clean_env(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"snap {' '.join(args[:3])} failed ({done.returncode}): "
            + done.stderr.decode(errors="replace")[-1500:]
        )
    return done.stdout


def cli_tree(output: bytes) -> str:
    """The tree hash ``snap capture`` printed."""
    found = CAPTURED.search(output.decode(errors="replace"))
    if found is None:
        raise RuntimeError(f"no tree in snap capture's output: {output[-300:]!r}")
    return found.group(1)


#: A child process that opens a store, captures once, and reports its peak memory. ``VmHWM``
#: (Linux) is the same peak read another way, as a cross-check.
MEMORY_CHILD = """
import json, os, resource, sys, time
from snapshot import SyncStore

def hwm_kb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None

tree, store, message = sys.argv[1:4]
opened = SyncStore.open(tree, store=store)
start = time.perf_counter()
captured = opened.capture(message)
seconds = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
gits = []
if os.environ.get("SNAP_BENCH_GIT_RSS"):
    with open(os.environ["SNAP_BENCH_GIT_RSS"]) as log:
        gits = [int(line) for line in log if line.strip().isdigit()]
print(json.dumps({"tree": captured.tree, "seconds": seconds, "maxrss_kb": own,
                  "vmhwm_kb": hwm_kb(), "children_maxrss_kb": children,
                  "git_peak_kb": max(gits, default=None), "git_calls": len(gits)}))
"""
IMPORT_CHILD = """
import json, resource
import snapshot
print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def git_meter(folder: Path) -> dict[str, str]:
    """Environment that puts a ``git`` in front of the real one, recording each one's peak RSS.

    The ``ru_maxrss`` of a git started by the Python process includes that process's RSS (see
    :func:`python_child`); GNU ``time`` starting git itself reports git's own peak, one line
    per call, into the file named by ``SNAP_BENCH_GIT_RSS``. Nothing if there is no
    ``/usr/bin/time``.
    """
    real = shutil.which("git")
    if real is None or not os.access("/usr/bin/time", os.X_OK):
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "git"
    shim.write_text(
        f'#!/bin/sh\n/usr/bin/time -a -o "$SNAP_BENCH_GIT_RSS" -f %M {shlex.quote(real)} "$@"\n'
    )
    shim.chmod(0o755)
    log = folder / "rss.log"
    log.write_text("")
    return {
        "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
        "SNAP_BENCH_GIT_RSS": str(log),
    }


def python_child(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python -c code args`` and parse the JSON it prints last.

    Linux carries the RSS a process had when it started a child into that child's
    ``ru_maxrss`` (across ``exec``), so the child is started by a small ``sh`` that waits for
    it rather than by this (large) process: its ``ru_maxrss`` is then its own.
    """
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        ["sh", "-c", '"$@"; exit $?', "sh", PYTHON, "-c", code, *args],
        env=clean_env({"PYTHONPATH": path, **(env or {})}),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError("child process failed: " + done.stderr.decode(errors="replace")[-2000:])
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


# --------------------------------------------------------------------------- the trees


class Synthetic:
    """A synthetic tree, a pristine snap store of it and a pristine baseline repository.

    The store is made by the memory children of goal 6 (a first capture, then warm ones),
    and the baseline repository holds the same objects (hard links) and a warm index. Each
    goal works on hard-linked copies of both, so the goals do not depend on one another.
    """

    def __init__(self, bench: Bench, files: int) -> None:
        self.bench = bench
        self.name = size_name(files)
        self.files = files
        self.root = bench.workdir / f"tree-{self.name}"
        params = bench.params
        log(f"building the {self.name} tree ({files} files) ...")
        start = time.perf_counter()
        self.paths = build_synthetic(
            self.root, files, binaries=params.binaries, ignored=params.ignored
        )
        self.build_seconds = time.perf_counter() - start
        self.ignored = ignored_files(self.root)
        self.excludes = anyio.run(project_excludes_file, self.root)
        self._edits = 0
        log(f"  built in {self.build_seconds:.1f}s; first capture in a child process ...")

        self.base_store = bench.workdir / f"base-store-{self.name}"
        bench.pause()
        meter = bench.workdir / f"git-meter-{self.name}"

        def child(message: str) -> dict[str, Any]:
            metered = git_meter(meter)
            return python_child(
                MEMORY_CHILD, str(self.root), str(self.base_store), message, env=metered
            )

        first = child("first")
        bench.pause()
        warm = [child(f"warm {n}") for n in range(params.reps)]
        self.memory = {"first": first, "warm": warm}
        self.tree = first["tree"]
        log(f"  first capture {first['seconds']:.1f}s, {first['maxrss_kb'] / 1024:.0f} MiB")
        for item in warm:
            if item["tree"] != self.tree:
                bench.mismatch(1, f"{self.name}: warm capture {item['tree']} != first {self.tree}")

        # The baseline's pristine repository: the same objects, a warm index, a HEAD commit.
        self.base_bare = bench.workdir / f"base-bare-{self.name}"
        base = self.baseline_at(self.base_bare, copy=False)
        base.init()
        shutil.copytree(
            self.base_store / "objects",
            self.base_bare / "objects",
            dirs_exist_ok=True,
            copy_function=os.link,
        )
        tree = base.add_and_write()
        if tree != self.tree:
            bench.mismatch(
                1, f"{self.name}: baseline tree {tree} != snap's first capture {self.tree}"
            )
        commit = base.git("commit-tree", tree, "-m", "base", env={**base.env, **_IDENTITY})
        base.git("update-ref", "HEAD", commit.decode().strip())
        base.status()  # refresh the index once
        listed = base.git("ls-tree", "-r", "--name-only", "-z", self.tree).split(b"\0")
        captured_ignored = [p for p in listed if p.startswith(b"build/")]
        if captured_ignored:
            bench.mismatch(1, f"{self.name}: ignored files captured: {captured_ignored[:5]}")
        binaries = [p for p in listed if p.startswith(b"bin/")]
        if len(binaries) != params.binaries:
            bench.mismatch(1, f"{self.name}: {len(binaries)} binary files captured")

    def baseline_at(
        self, git_dir: Path, *, copy: bool = True, index: Path | None = None
    ) -> Baseline:
        """A baseline in ``git_dir``: a hard-linked copy of the pristine repository."""
        if copy:
            link_copy(self.base_bare, git_dir)
        return Baseline(git_dir, self.root, index or git_dir / "index", self.excludes)

    def store_at(self, path: Path) -> Path:
        """A hard-linked copy of the pristine snap store."""
        link_copy(self.base_store, path)
        return path

    def edit(self, count: int, tag: str) -> tuple[list[str], int, int]:
        """Append a line to ``count`` text files spread over the tree (others each call).

        Returns their relative paths, the bytes appended and the files' sizes after.
        """
        step = max(1, len(self.paths) // count)
        offset = self._edits % step
        self._edits += 1
        chosen = self.paths[offset::step][:count]
        line = f"{tag}\n".encode()
        sizes = 0
        for path in chosen:
            with path.open("ab") as handle:
                handle.write(line)
                sizes += handle.tell()
        return [str(p.relative_to(self.root)) for p in chosen], len(line) * len(chosen), sizes


#: The fixed author and committer of generated commits.
_IDENTITY = {
    k: v for k, v in PROJECT_GIT_ENV.items() if k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))
}


class Checkout:
    """A Git checkout with history: the standard library (or, quick, a small generated tree)."""

    def __init__(self, bench: Bench) -> None:
        self.root = bench.workdir / "checkout"
        self.root.mkdir()
        start = time.perf_counter()
        if bench.params.stdlib:
            log("copying the standard library into a checkout ...")
            paths = copy_stdlib(self.root)
            self.source = "stdlib"
        else:
            built = build_tree(self.root, bench.params.small_files)
            paths = [str(p.relative_to(self.root)) for p in built]
            self.source = f"generated ({len(paths)} files)"
        self.history = make_checkout(self.root, paths)
        # As a clone is: its objects packed (a fresh commit's objects are loose until gc).
        project_git(self.root, "gc", "--quiet")
        self.build_seconds = time.perf_counter() - start
        self.head_tree = project_git(self.root, "rev-parse", "HEAD^{tree}").decode().strip()
        self.excludes = anyio.run(project_excludes_file, self.root)
        self.size = disk_usage(self.root)
        log(
            f"  {len(paths)} files, {self.size['apparent_bytes'] / MB:.1f} MB, "
            f"{self.build_seconds:.1f}s"
        )


# --------------------------------------------------------------------------- the run


class Bench:
    """One run: its parameters, its folder, the trees (built when first needed), its results."""

    def __init__(self, params: Params, workdir: Path) -> None:
        self.params = params
        self.workdir = workdir
        self.mismatches: list[dict[str, Any]] = []
        self._synthetic: dict[int, Synthetic] = {}
        self._checkout: Checkout | None = None
        self._scratch = 0

    def mismatch(self, goal: int, text: str) -> None:
        self.mismatches.append({"goal": goal, "what": text})
        print(f"\n!!!!!!!! MISMATCH (goal {goal}): {text}\n", file=sys.stderr, flush=True)

    def pause(self) -> None:
        time.sleep(self.params.pause)

    def synthetic(self, files: int) -> Synthetic:
        if files not in self._synthetic:
            self._synthetic[files] = Synthetic(self, files)
        return self._synthetic[files]

    @property
    def big(self) -> Synthetic:
        return self.synthetic(self.params.big_files)

    @property
    def small(self) -> Synthetic:
        return self.synthetic(self.params.small_files)

    def checkout(self) -> Checkout:
        if self._checkout is None:
            self._checkout = Checkout(self)
        return self._checkout

    def scratch(self, name: str) -> Path:
        self._scratch += 1
        path = self.workdir / f"{self._scratch:02d}-{name}"
        path.mkdir()
        return path

    def trees(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            s.name: {
                "files": s.files,
                "binaries": self.params.binaries,
                "ignored_files": len(s.ignored),
                "build_seconds": s.build_seconds,
                "tree": s.tree,
            }
            for s in self._synthetic.values()
        }
        if self._checkout is not None:
            found["checkout"] = {
                "source": self._checkout.source,
                "history": self._checkout.history,
                "size": self._checkout.size,
                "build_seconds": self._checkout.build_seconds,
                "head_tree": self._checkout.head_tree,
            }
        return found


class Goal:
    """What one goal found: its variants' figures, its tables and checks, extra data."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.title = GOALS[number]
        self.status = "ok"
        self.notes: list[str] = []
        self.variants: dict[str, dict[str, Any]] = {}
        self.tables: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}

    def add(self, key: str, label: str, values: Sequence[float], unit: str = "s") -> str:
        self.variants[key] = {"label": label, **stats(values, unit)}
        return key

    def table(self, title: str, reference: str | None = None) -> dict[str, Any]:
        table: dict[str, Any] = {"title": title, "reference": reference, "rows": []}
        self.tables.append(table)
        return table

    def row(
        self,
        table: dict[str, Any],
        key: str,
        check: tuple[str, str, str, str, float] | None = None,
    ) -> None:
        """A table row; ``check`` = (name, numerator, denominator, op, target) on medians."""
        row: dict[str, Any] = {"variant": key}
        if key not in self.variants:
            row["missing"] = True
        elif check is not None:
            name, top, bottom, op, target = check
            if top in self.variants and bottom in self.variants:
                ratio = self.variants[top]["median"] / self.variants[bottom]["median"]
                row["check"] = {
                    "name": name,
                    "ratio": ratio,
                    "op": op,
                    "target": target,
                    "pass": ratio <= target if op == "<=" else ratio >= target,
                }
        elif table["reference"] in self.variants:
            ref = self.variants[table["reference"]]
            if ref["median"] and ref["unit"] == self.variants[key]["unit"]:
                row["relative"] = self.variants[key]["median"] / ref["median"]
        table["rows"].append(row)

    def limit(self, table: dict[str, Any], key: str, op: str, target: float) -> None:
        """A row whose own median is judged against an absolute target (memory)."""
        row: dict[str, Any] = {"variant": key}
        if key in self.variants:
            value = self.variants[key]["median"]
            row["check"] = {
                "name": "median",
                "ratio": value,
                "op": op,
                "target": target,
                "pass": value < target if op == "<" else value <= target,
            }
        table["rows"].append(row)

    def document(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "status": self.status,
            "notes": self.notes,
            "variants": self.variants,
            "tables": self.tables,
            **self.extra,
        }


# --------------------------------------------------------------------------- goal 1


def goal_warm(bench: Bench) -> Goal:
    goal = Goal(1)
    params = bench.params
    sizes = [params.big_files]
    if params.small_files != params.big_files:
        sizes.append(params.small_files)
    for files in sizes:
        synth = bench.synthetic(files)
        judged = files == params.big_files
        _warm_tree(bench, goal, synth, judged=judged)
    goal.notes.append(
        f"{params.touched} files get a line appended (untimed) before the 'changed' half of"
        " each round; every variant sees them. Trees of snap, (a) and (b) are compared in"
        " every half round, and (d) must report exactly the changed files."
    )
    return goal


def _warm_tree(bench: Bench, goal: Goal, synth: Synthetic, *, judged: bool) -> None:
    params = bench.params
    ws = bench.scratch(f"warm-{synth.name}")
    log(f"goal 1 ({synth.name}): copying stores ...")
    snap_lib = SyncStore.open(synth.root, store=synth.store_at(ws / "snap-lib"))
    snap_cli_store = synth.store_at(ws / "snap-cli")
    a_lib = synth.baseline_at(ws / "a-lib")
    a_cli = synth.baseline_at(ws / "a-cli")
    b_lib = synth.baseline_at(ws / "b-lib", index=ws / "b-lib.index")
    b_cli = synth.baseline_at(ws / "b-cli", index=ws / "b-cli.index")

    actions: dict[str, Callable[[], object]] = {
        "d_lib": a_lib.status,
        "a_lib": a_lib.add_and_write,
        "b_lib": b_lib.fresh_add_and_write,
        "snap_lib": lambda: snap_lib.capture().tree,
        "d_cli": lambda: a_cli.sh(SH_STATUS),
        "a_cli": lambda: a_cli.sh(SH_ADD_WRITE).decode().strip(),
        "b_cli": lambda: b_cli.sh(SH_FRESH).decode().strip(),
        "snap_cli": lambda: cli_tree(snap_cli(synth.root, snap_cli_store, "capture")),
    }
    # Settle: every variant once (untimed), away from the second the tree last changed.
    bench.pause()
    settled = {name: action() for name, action in actions.items()}
    trees = {settled[n] for n in ("a_lib", "b_lib", "snap_lib", "a_cli", "b_cli", "snap_cli")}
    if len(trees) != 1:
        bench.mismatch(1, f"{synth.name} settle: trees differ: {settled}")
    state = {"tree": settled["snap_lib"]}
    bench.pause()

    outputs: dict[str, Any] = {}
    variants = recording(
        {
            f"{part}.{who}": action
            for part in ("unchanged", "changed")
            for who, action in actions.items()
        },
        outputs,
    )
    rounds = [0]

    def before(name: str) -> None:
        if name == "changed.d_lib":
            rounds[0] += 1
            synth.edit(params.touched, f"goal 1 round {rounds[0]}")
            bench.pause()

    def after(name: str) -> None:
        part, who = name.split(".")
        if who.startswith("d_"):
            found = worktree_changes(outputs[name])
            want = params.touched if part == "changed" else 0
            if found != want:
                bench.mismatch(1, f"{synth.name} {name}: status shows {found} changes, not {want}")
            return
        if who != "snap_cli":
            return
        made = {
            w: outputs[f"{part}.{w}"]
            for w in ("a_lib", "b_lib", "snap_lib", "a_cli", "b_cli", "snap_cli")
        }
        if len(set(made.values())) != 1:
            bench.mismatch(1, f"{synth.name} {part}: trees differ: {made}")
        same = made["snap_lib"] == state["tree"]
        if same != (part == "unchanged"):
            bench.mismatch(
                1, f"{synth.name} {part}: tree {'unchanged' if same else 'changed'} after the round"
            )
        state["tree"] = made["snap_lib"]

    log(f"goal 1 ({synth.name}): {params.reps} interleaved rounds ...")
    samples = interleave(variants, params.reps, before=before, after=after)

    labels = {
        "snap_lib": "snap `SyncStore.capture()`",
        "a_lib": "(a) persistent index: `add --all` + `write-tree`",
        "d_lib": "(d) `git status --porcelain` (lower bound)",
        "b_lib": "(b) fresh empty index: `add --all` + `write-tree`",
        "snap_cli": "snap `snap capture` process",
        "a_cli": "(a) `sh -c 'git add --all && git write-tree'`",
        "d_cli": "(d) `sh -c 'git status --porcelain'`",
        "b_cli": "(b) the same `sh -c` into a fresh index",
    }
    for name, runs in samples.items():
        part, who = name.split(".")
        goal.add(f"{synth.name}.{name}", labels[who], runs)
    for part, part_title in (
        ("unchanged", "nothing changed"),
        ("changed", f"{params.touched} files changed"),
    ):
        for mode, mode_title in (("lib", "library"), ("cli", "command line")):
            key = f"{synth.name}.{part}.%s_{mode}"
            title = f"{synth.name} files, {part_title}, {mode_title}"
            if not judged:
                title += " (for scale; the targets are for the big tree)"
            table = goal.table(title, reference=key % "snap")
            snap = key % "snap"
            goal.row(table, snap)
            for who, check in (
                ("a", ("snap/(a)", snap, key % "a", "<=", 1.25)),
                ("d", ("snap/(d)", snap, key % "d", "<=", 2.0)),
                ("b", ("(b)/snap", key % "b", snap, ">=", 8.0)),
            ):
                goal.row(table, key % who, check if judged else None)
    shutil.rmtree(ws, ignore_errors=True)


# --------------------------------------------------------------------------- goal 2


def goal_first(bench: Bench) -> Goal:
    goal = Goal(2)
    params = bench.params
    checkout = bench.checkout()
    ws = bench.scratch("first")
    index = ws / "b.index"
    current: dict[str, Any] = {}
    outputs: dict[str, str] = {}
    sizes: dict[str, list[dict[str, int]]] = {}
    open_seconds: list[float] = []
    counter = [0]

    def before(name: str) -> None:
        counter[0] += 1
        path = ws / f"{name}-{counter[0]}"
        current["path"] = path
        if name == "snap_lib":
            start = time.perf_counter()
            current["store"] = SyncStore.open(checkout.root, store=path)
            open_seconds.append(time.perf_counter() - start)
        elif name in ("b_lib", "b_cli"):
            current["base"] = Baseline(path, checkout.root, index, checkout.excludes)
            if name == "b_lib":
                current["base"].init()

    actions: dict[str, Callable[[], str]] = {
        "snap_lib": lambda: current["store"].capture().tree,
        "b_lib": lambda: current["base"].fresh_add_and_write(),  # noqa: PLW0108
        "snap_cli": lambda: cli_tree(snap_cli(checkout.root, current["path"], "capture")),
        "b_cli": lambda: current["base"].sh(SH_INIT_FRESH).decode().strip(),
    }
    variants = recording(actions, outputs)

    def after(name: str) -> None:
        path = current["path"]
        if outputs[name] != checkout.head_tree:
            bench.mismatch(
                2, f"{name}: tree {outputs[name]} != the checkout's HEAD tree {checkout.head_tree}"
            )
        whole = disk_usage(path)
        objects = disk_usage(path / "objects")
        sizes.setdefault(name, []).append(
            {
                "disk_bytes": whole["disk_bytes"],
                "apparent_bytes": whole["apparent_bytes"],
                "objects_disk_bytes": objects["disk_bytes"],
                "objects_apparent_bytes": objects["apparent_bytes"],
                "files": whole["files"],
            }
        )
        current.clear()
        shutil.rmtree(path, ignore_errors=True)
        index.unlink(missing_ok=True)

    log(f"goal 2: {params.reps} interleaved rounds of first captures of {checkout.source} ...")
    samples = interleave(variants, params.reps, before=before, after=after)
    labels = {
        "snap_lib": "snap first `capture()` into a new store",
        "b_lib": "(b) `add --all` + `write-tree` into a new bare repo",
        "snap_cli": "snap `snap capture` process, new store",
        "b_cli": "(b) `sh -c 'git init --bare && git add --all && git write-tree'`",
    }
    for name, runs in samples.items():
        goal.add(f"time.{name}", labels[name], runs)
    for mode in ("lib", "cli"):
        table = goal.table(
            f"first capture of {checkout.source}, {'library' if mode == 'lib' else 'command line'}",
            reference=f"time.snap_{mode}",
        )
        goal.row(table, f"time.snap_{mode}")
        goal.row(
            table, f"time.b_{mode}", ("(b)/snap", f"time.b_{mode}", f"time.snap_{mode}", ">=", 5.0)
        )
    who = {
        "snap_lib": "snap (library)",
        "b_lib": "(b) (library)",
        "snap_cli": "snap (command line)",
        "b_cli": "(b) (command line)",
    }
    size_labels = {
        "disk_bytes": "on disk (st_blocks × 512)",
        "apparent_bytes": "apparent bytes",
        "objects_disk_bytes": "objects/ on disk",
    }
    for measure, measure_label in size_labels.items():
        for name in ("snap_lib", "b_lib", "snap_cli", "b_cli"):
            if name in sizes:
                goal.add(
                    f"{measure}.{name}",
                    f"{who[name]}: {measure_label}",
                    [s[measure] for s in sizes[name]],
                    unit="bytes",
                )
        table = goal.table(
            f"store size after the first capture, {measure_label} (ratio: × (b) library)",
            reference=f"{measure}.b_lib",
        )
        for name in ("snap_lib", "b_lib", "snap_cli", "b_cli"):
            if name in sizes:
                goal.row(table, f"{measure}.{name}")
    goal.extra["store_open_seconds"] = open_seconds
    goal.extra["sizes"] = sizes
    goal.notes.append(
        "Each round uses brand-new store folders for both sides. The snap store keeps its index;"
        " the (b) repository's index is deleted after each capture, as (b) does."
        " Time of the library snap excludes `Store.open` (in `store_open_seconds`), as (b)'s"
        " excludes `git init`; the command-line forms include both."
    )
    shutil.rmtree(ws, ignore_errors=True)
    return goal


# --------------------------------------------------------------------------- goal 3


def _cli_has(option: str, *command: str) -> bool:
    done = subprocess.run(
        [SNAP, *command, "--help"], capture_output=True, env=clean_env(), check=False
    )
    return option.encode() in done.stdout


def goal_hinted(bench: Bench) -> Goal:
    goal = Goal(3)
    params = bench.params
    synth = bench.big
    lib_ok = "paths" in inspect.signature(Store.capture).parameters
    cli_ok = _cli_has("--paths-from", "capture")
    ws = bench.scratch("hinted")
    store_path = synth.store_at(ws / "snap")
    store = SyncStore.open(synth.root, store=store_path)
    check = synth.baseline_at(ws / "check")
    list_file = ws / "paths.txt"
    bench.pause()
    settle = {store.capture().tree, check.add_and_write()}
    if len(settle) != 1:
        bench.mismatch(3, f"settle: trees differ: {settle}")
    bench.pause()

    outputs: dict[str, str] = {}
    current: dict[str, list[str]] = {}
    actions: dict[str, Callable[[], str]] = {}
    if lib_ok:
        actions["hinted_lib"] = lambda: store.capture(paths=current["paths"]).tree
    actions["full_lib"] = lambda: store.capture().tree
    if cli_ok:
        actions["hinted_cli"] = lambda: cli_tree(
            snap_cli(synth.root, store_path, "capture", "--paths-from", str(list_file))
        )
    actions["full_cli"] = lambda: cli_tree(snap_cli(synth.root, store_path, "capture"))
    variants = recording(actions, outputs)
    edits = [0]

    def before(name: str) -> None:
        edits[0] += 1
        paths, _, _ = synth.edit(params.touched, f"goal 3 edit {edits[0]}")
        current["paths"] = paths
        list_file.write_text("".join(f"{p}\n" for p in paths))

    def after(name: str) -> None:
        expected = check.add_and_write()
        if outputs[name] != expected:
            bench.mismatch(
                3,
                f"{name}: tree {outputs[name]} != git add --all's {expected} (a missed change?)",
            )

    log(
        f"goal 3: {params.reps} interleaved rounds (hinted lib: {lib_ok}, hinted CLI: {cli_ok}) ..."
    )
    samples = interleave(variants, params.reps, before=before, after=after)
    labels = {
        "hinted_lib": f"snap `capture(paths=[{params.touched} changed])`",
        "full_lib": "snap `capture()` (full, warm)",
        "hinted_cli": "snap `snap capture --paths-from FILE`",
        "full_cli": "snap `snap capture`",
    }
    for name, runs in samples.items():
        goal.add(name, labels[name], runs)
    for mode in ("lib", "cli"):
        table = goal.table(
            f"{synth.name} files, {params.touched} changed before each capture, "
            f"{'library' if mode == 'lib' else 'command line'}",
            reference=f"full_{mode}",
        )
        goal.row(table, f"full_{mode}")
        goal.row(
            table, f"hinted_{mode}", ("hinted/full", f"hinted_{mode}", f"full_{mode}", "<=", 0.10)
        )
    if not (lib_ok and cli_ok):
        goal.status = "partial"
        missing = [
            what
            for what, ok in (
                ("`Store.capture(paths=...)`", lib_ok),
                ("`snap capture --paths-from`", cli_ok),
            )
            if not ok
        ]
        goal.notes.append(f"not available in this build: {', '.join(missing)}")
    goal.extra["available"] = {"library_paths": lib_ok, "cli_paths_from": cli_ok}
    goal.notes.append(
        "Before every capture (untimed) 10 files get a line appended; after it (untimed) a"
        " separate baseline (a) repository's `add --all` + `write-tree` must give the same tree."
    )
    shutil.rmtree(ws, ignore_errors=True)
    return goal


# --------------------------------------------------------------------------- goal 4


def goal_diff(bench: Bench) -> Goal:
    goal = Goal(4)
    params = bench.params
    synth = bench.small
    changed = params.diff_changed
    ws = bench.scratch("diff")
    store_path = synth.store_at(ws / "snap")
    store = SyncStore.open(synth.root, store=store_path)
    c = synth.baseline_at(ws / "c")
    bench.pause()
    first = store.capture("before")
    tree1 = c.add_and_write()
    synth.edit(changed, "goal 4: a changed line")
    second = store.capture("after")
    tree2 = c.add_and_write()
    if (first.tree, second.tree) != (tree1, tree2):
        bench.mismatch(4, f"snap trees {first.tree}, {second.tree} != git's {tree1}, {tree2}")

    def c_lib() -> dict[str, tuple[bytes, bytes]]:
        names = [n for n in c.git("diff", "--name-only", "-z", tree1, tree2).split(b"\0") if n]
        return {
            os.fsdecode(n): (
                c.git("show", f"{tree1}:{os.fsdecode(n)}"),
                c.git("show", f"{tree2}:{os.fsdecode(n)}"),
            )
            for n in names
        }

    script = (
        f"g diff --name-only {tree1} {tree2} | while IFS= read -r f; do "
        f'g show "{tree1}:$f" && g show "{tree2}:$f" || exit 1; done'
    )
    actions: dict[str, Callable[[], Any]] = {
        "snap_lib": lambda: store.diff(first.id, second.id, contents=True),
        "c_lib": c_lib,
        "snap_cli": lambda: snap_cli(
            synth.root, store_path, "diff", first.id, second.id, "--json", "--contents"
        ),
        "c_cli": lambda: c.sh(script),
    }
    outputs: dict[str, Any] = {}
    variants = recording(actions, outputs)

    def after(name: str) -> None:
        if name != "c_cli":
            return
        git_texts = outputs["c_lib"]
        diff = outputs["snap_lib"]
        snap_texts = {ch.path: (ch.before, ch.after) for ch in diff.changes}
        if len(git_texts) != changed:
            bench.mismatch(4, f"git diff lists {len(git_texts)} files, not {changed}")
        if set(snap_texts) != set(git_texts):
            bench.mismatch(4, f"changed paths differ: snap {len(snap_texts)}, git {len(git_texts)}")
        wrong = [
            path
            for path, (old, new) in git_texts.items()
            if snap_texts.get(path) != (old.decode(), new.decode())
        ]
        if wrong:
            bench.mismatch(
                4, f"before/after text differs from git show for {len(wrong)} files: {wrong[:3]}"
            )
        cli = {
            item["path"]: (item.get("before"), item.get("after"))
            for item in json.loads(outputs["snap_cli"])
        }
        if cli != snap_texts:
            bench.mismatch(4, "snap diff --json --contents differs from Store.diff")
        expected = b"".join(old + new for old, new in git_texts.values())
        if outputs["c_cli"] != expected:
            bench.mismatch(4, "the sh loop of git show printed other bytes than the library form")

    log(f"goal 4: {params.reps} interleaved rounds, diff of {changed} changed files ...")
    samples = interleave(variants, params.reps, after=after)
    labels = {
        "snap_lib": "snap `diff(a, b, contents=True)`",
        "c_lib": f"(c) `git diff --name-only` + {2 * changed} `git show`",
        "snap_cli": "snap `snap diff A B --json --contents`",
        "c_cli": "(c) the same as an `sh` loop",
    }
    for name, runs in samples.items():
        goal.add(name, labels[name], runs)
    for mode in ("lib", "cli"):
        table = goal.table(
            f"{changed} files changed, before and after text, "
            f"{'library' if mode == 'lib' else 'command line'}",
            reference=f"snap_{mode}",
        )
        goal.row(table, f"snap_{mode}")
        goal.row(table, f"c_{mode}", ("(c)/snap", f"c_{mode}", f"snap_{mode}", ">=", 10.0))
    goal.extra["changed_files"] = changed
    goal.extra["tree_files"] = synth.files
    shutil.rmtree(ws, ignore_errors=True)
    return goal


# --------------------------------------------------------------------------- goal 5


def byte_compile() -> None:
    """Compile the product's modules, as ``pip install`` does. This machine may forbid writing
    bytecode (PYTHONDONTWRITEBYTECODE): every CLI run would then time compiling them."""
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", str(ROOT / "snapshot"), str(ROOT / "procio")],
        env={k: v for k, v in clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=True,
    )


def goal_startup(bench: Bench) -> Goal:
    goal = Goal(5)
    runs = bench.params.startup_runs
    env = clean_env()
    commands = {
        "python_pass": [PYTHON, "-c", "pass"],
        "snap_help": [SNAP, "--help"],
        "import_cli": [PYTHON, "-c", "import snapshot.cli"],
    }

    def launcher(argv: list[str]) -> Callable[[], None]:
        def launch() -> None:
            subprocess.run(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
            )

        return launch

    for argv in commands.values():  # warm the page cache, untimed
        launcher(argv)()
    log(f"goal 5: {runs} interleaved runs of each start-up ...")
    samples = interleave({n: launcher(a) for n, a in commands.items()}, runs, progress=False)
    labels = {
        "python_pass": "`python -c pass`",
        "snap_help": "`snap --help`",
        "import_cli": "`python -c 'import snapshot.cli'` (for reference)",
    }
    for name, values in samples.items():
        goal.add(name, labels[name], values)
    table = goal.table(f"{runs} runs each, interleaved", reference="python_pass")
    goal.row(table, "python_pass")
    goal.row(table, "snap_help", ("snap/python", "snap_help", "python_pass", "<=", 1.3))
    goal.row(table, "import_cli")
    goal.extra["importtime"] = importtime()
    goal.notes.append(
        "The package is byte-compiled before the run (`python -m compileall`), as `pip install`"
        " does; without bytecode every start compiles the modules it imports."
    )
    return goal


def importtime(top: int = 15) -> dict[str, Any]:
    """``python -X importtime -c 'import snapshot.cli'``: the slowest imports, in microseconds."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", "import snapshot.cli"],
        env=clean_env(),
        capture_output=True,
        check=True,
    )
    rows = []
    for line in done.stderr.decode(errors="replace").splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        rows.append(
            {"module": parts[2].strip(), "self_us": int(parts[0]), "cumulative_us": int(parts[1])}
        )
    total = next((r["cumulative_us"] for r in rows if r["module"] == "snapshot.cli"), None)
    return {
        "total_us": total,
        "modules": len(rows),
        "top_cumulative": sorted(rows, key=lambda r: -r["cumulative_us"])[:top],
        "top_self": sorted(rows, key=lambda r: -r["self_us"])[:top],
    }


# --------------------------------------------------------------------------- goal 6


def goal_memory(bench: Bench) -> Goal:
    goal = Goal(6)
    synth = bench.big
    first, warm = synth.memory["first"], synth.memory["warm"]
    import_only = python_child(IMPORT_CHILD)
    kb = 1024 / MB
    rows = {
        "first": ("first capture into a new store: the Python process", [first["maxrss_kb"]]),
        "warm": (
            "warm capture, nothing changed: the Python process",
            [w["maxrss_kb"] for w in warm],
        ),
        "first_git": (
            "first capture: largest git child (RUSAGE_CHILDREN, an upper bound)",
            [first["children_maxrss_kb"]],
        ),
        "warm_git": (
            "warm capture: largest git child (RUSAGE_CHILDREN, an upper bound)",
            [w["children_maxrss_kb"] for w in warm],
        ),
        "first_git_own": (
            "first capture: largest git, its own peak (GNU time)",
            [first["git_peak_kb"]],
        ),
        "warm_git_own": (
            "warm capture: largest git, its own peak (GNU time)",
            [w["git_peak_kb"] for w in warm],
        ),
        "import_only": ("`import snapshot` alone (for reference)", [import_only["maxrss_kb"]]),
    }
    for key, (label, values) in rows.items():
        if all(v is not None for v in values):
            goal.add(key, label, [v * kb for v in values], "MB")
    table = goal.table(f"peak RSS (ru_maxrss), capture of the {synth.name} tree in a child process")
    goal.limit(table, "first", "<", 100.0)
    goal.limit(table, "warm", "<", 100.0)
    for key in ("first_git", "warm_git", "first_git_own", "warm_git_own", "import_only"):
        if key in goal.variants:
            goal.row(table, key)
    goal.add("first_seconds", "first capture (for reference)", [first["seconds"]])
    goal.add("warm_seconds", "warm capture (for reference)", [w["seconds"] for w in warm])
    times = goal.table("capture time inside those children", reference="warm_seconds")
    goal.row(times, "first_seconds")
    goal.row(times, "warm_seconds")
    goal.extra["children"] = {"first": first, "warm": warm, "import_only": import_only}
    goal.notes.append(
        "RUSAGE_SELF of a child Python process (started by a small `sh`, so that none of the"
        " harness's own memory is carried into it) that opens the store and captures once;"
        " `vmhwm_kb` in the JSON is the same peak read from /proc, as a cross-check."
        " RUSAGE_CHILDREN is the largest ru_maxrss of the git processes it waited for; Linux"
        " counts in it the RSS the Python process had when it started each git, so it is an"
        " upper bound of git's own peak. Its own peak is measured by running each git under"
        " GNU `time` (a `git` in front of the real one on the child's PATH)."
    )
    return goal


# --------------------------------------------------------------------------- goal 7


def _index_path(store: Path) -> Path:
    with contextlib.suppress(Exception):
        from snapshot.layout import Layout

        return Layout(store).index
    return store / "index"


def goal_disk(bench: Bench) -> Goal:
    goal = Goal(7)
    params = bench.params
    synth = bench.big
    ws = bench.scratch("disk")
    store_path = synth.store_at(ws / "snap")
    store = SyncStore.open(synth.root, store=store_path)
    store.capture("start")  # take in whatever earlier goals changed
    index = _index_path(store_path)
    start = disk_usage(store_path)
    start_loose = loose_objects(store_path)
    capture_seconds: list[float] = []
    growth: list[float] = []
    appended = new_sizes = 0
    last = start["disk_bytes"]
    log(f"goal 7: {params.disk_captures} captures of {params.touched} changed files ...")
    for number in range(1, params.disk_captures + 1):
        _, added, sizes = synth.edit(params.touched, f"goal 7 capture {number}")
        appended += added
        new_sizes += sizes
        began = time.perf_counter()
        store.capture()
        capture_seconds.append(time.perf_counter() - began)
        if number % params.disk_sample_every == 0:
            now = disk_usage(store_path)["disk_bytes"]
            growth.append((now - last) / params.disk_sample_every)
            last = now
    before_gc = disk_usage(store_path)
    before_loose = loose_objects(store_path)
    index_before = index.stat().st_size if index.exists() else None
    began = time.perf_counter()
    result = store.gc(keep_last=1000)
    gc_seconds = time.perf_counter() - began
    after_gc = disk_usage(store_path)
    after_loose = loose_objects(store_path)
    index_after = index.stat().st_size if index.exists() else None
    captures = params.disk_captures

    goal.add("capture", "one capture of 10 changed files", capture_seconds)
    goal.add("growth", "store growth per capture, on disk", growth, "bytes")
    goal.add("gc", "`gc(keep_last=1000)`", [gc_seconds])
    sizes = {
        "size_start": ("store on disk before the captures", start["disk_bytes"]),
        "size_before_gc": (f"store on disk after {captures} captures", before_gc["disk_bytes"]),
        "size_after_gc": ("store on disk after gc", after_gc["disk_bytes"]),
        "apparent_before_gc": (
            f"apparent bytes after {captures} captures",
            before_gc["apparent_bytes"],
        ),
        "apparent_after_gc": ("apparent bytes after gc", after_gc["apparent_bytes"]),
        "changed_bytes": (f"bytes appended over {captures} captures", appended),
        "changed_files_bytes": ("sizes of the changed files' new versions, summed", new_sizes),
    }
    if index_before is not None and index_after is not None:
        sizes["index_before_gc"] = ("the store's index before gc", index_before)
        sizes["index_after_gc"] = ("the store's index after gc", index_after)
    for key, (label, value) in sizes.items():
        goal.add(key, label, [value], "bytes")
    goal.add("loose_before_gc", "loose objects before gc", [before_loose], "count")
    goal.add("loose_after_gc", "loose objects after gc", [after_loose], "count")
    goal.add("loose_start", "loose objects before the captures", [start_loose], "count")

    table = goal.table(
        f"{captures} captures of the {synth.name} tree, {params.touched} files changed each"
    )
    for key in (
        "capture",
        "growth",
        "changed_bytes",
        "changed_files_bytes",
        "size_start",
        "size_before_gc",
        "apparent_before_gc",
    ):
        goal.row(table, key)
    table = goal.table("gc(keep_last=1000)")
    for key in (
        "gc",
        "size_after_gc",
        "apparent_after_gc",
        "index_before_gc",
        "index_after_gc",
        "loose_start",
        "loose_before_gc",
        "loose_after_gc",
    ):
        if key in goal.variants:
            goal.row(table, key)
    growth_total = before_gc["disk_bytes"] - start["disk_bytes"]
    goal.extra["summary"] = {
        "captures": captures,
        "growth_bytes": growth_total,
        "growth_per_capture_bytes": growth_total / captures,
        "growth_per_appended_byte": growth_total / appended if appended else None,
        "growth_per_new_version_byte": growth_total / new_sizes if new_sizes else None,
        "gc_removed": len(result.removed),
        "gc_kept": len(result.kept),
    }
    goal.notes.append(
        f"Growth per capture is sampled every {params.disk_sample_every} captures. In all,"
        f" the store grew {growth_total / MB:.2f} MB for {appended} bytes appended"
        f" ({new_sizes} bytes of new file versions); gc removed {len(result.removed)} snapshots."
    )
    shutil.rmtree(ws, ignore_errors=True)
    return goal


# --------------------------------------------------------------------------- reporting


def fmt(value: float, unit: str, scale_of: float | None = None) -> str:
    """A figure for the markdown; ``scale_of`` picks the scale (the row's median)."""
    basis = abs(scale_of if scale_of is not None else value)
    if unit == "s":
        if basis < 1:
            return f"{value * 1000:.1f} ms"
        return f"{value:.3f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "bytes":
        if basis >= 1e6:
            return f"{value / 1e6:.2f} MB"
        if basis >= 1e4:
            return f"{value / 1e3:.1f} kB"
        return f"{value:.0f} B"
    return f"{value:,.0f}"


def markdown(document: dict[str, Any], command: str, json_name: str = "run.json") -> str:
    m = document["machine"]
    p = document["params"]
    load_start = ", ".join(f"{x:.2f}" for x in m.get("loadavg_at_start", []))
    load_end = ", ".join(f"{x:.2f}" for x in m["loadavg_at_end"])
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `{command}` at {document['measured_at']}, in {document['seconds']:.0f} s."
        " Each goal runs its variants interleaved round by round (A B C A B C ...) in this one"
        " run; figures are medians with min and max over the rounds, and ratios are ratios of"
        " medians. What each goal measures: `bench/README.md`; every run of every variant:"
        f" `{json_name}`.",
        "",
        f"- machine: {m['cores']} cores, {m['git']}, Python {m['python']}, {m['platform']}",
        f"- load average (1, 5, 15 min): {load_start} at the start, {load_end} at the end",
        f"- params: {', '.join(f'{k}={v}' for k, v in p.items())}",
        "",
    ]
    if document["mismatches"]:
        lines += ["## !!! MISMATCHES !!!", ""]
        lines += [f"- goal {x['goal']}: {x['what']}" for x in document["mismatches"]]
        lines.append("")
    else:
        lines += ["Every check of trees and texts agreed (no mismatches).", ""]
    summary = [
        (number, table["title"], goal["variants"].get(row["variant"], {}), row["check"])
        for number, goal in document["goals"].items()
        for table in goal.get("tables", [])
        for row in table["rows"]
        if "check" in row
    ]
    if summary:
        lines += [
            "| goal | measured | check | value | target | result |",
            "|---|---|---|---:|---:|---|",
        ]
        for number, title, variant, check in summary:
            unit = variant.get("unit", "")
            what = check["name"] if check["name"] != "median" else variant.get("label", "")
            value = (
                fmt(check["ratio"], unit) if check["name"] == "median" else f"{check['ratio']:.2f}"
            )
            target = (
                fmt(check["target"], unit) if check["name"] == "median" else f"{check['target']:g}"
            )
            lines.append(
                f"| {number} | {title} | {what} | {value} | {OPS[check['op']]} {target} |"
                f" {'PASS' if check['pass'] else 'MISS'} |"
            )
        lines.append("")
    for number, goal in document["goals"].items():
        lines += [f"## {number}. {goal['title']}", ""]
        if goal["status"] not in ("ok",):
            lines += [f"Status: **{goal['status']}**.", ""]
        if goal.get("error"):
            lines += ["```", goal["error"].rstrip(), "```", ""]
        for table in goal.get("tables", []):
            lines += [
                f"{table['title']}:",
                "",
                "| variant | median | min | max | n | ratio | target | result |",
                "|---|---:|---:|---:|---:|---:|---:|---|",
            ]
            for row in table["rows"]:
                variant = goal["variants"].get(row["variant"])
                if variant is None:
                    lines.append(f"| `{row['variant']}` | not available | | | | | | |")
                    continue
                unit, med = variant["unit"], variant["median"]
                ratio = target = result = ""
                if "check" in row:
                    check = row["check"]
                    if check["name"] == "median":
                        ratio = ""
                        target = f"{OPS[check['op']]} {fmt(check['target'], unit)}"
                    else:
                        ratio = f"{check['name']} = {check['ratio']:.2f}"
                        target = f"{OPS[check['op']]} {check['target']:g}"
                    result = "**PASS**" if check["pass"] else "**MISS**"
                elif "relative" in row:
                    ratio = f"{row['relative']:.2f}×"
                lines.append(
                    f"| {variant['label']} | {fmt(med, unit)} | {fmt(variant['min'], unit, med)}"
                    f" | {fmt(variant['max'], unit, med)} | {variant['n']} | {ratio} | {target}"
                    f" | {result} |"
                )
            lines.append("")
        for note in goal.get("notes", []):
            lines += [note, ""]
        if number == "5" and goal.get("importtime"):
            info = goal["importtime"]
            top = ", ".join(
                f"{r['module']} {r['cumulative_us'] / 1000:.0f} ms"
                for r in info["top_cumulative"][:6]
            )
            lines += [f"Slowest imports (cumulative, `-X importtime`): {top}.", ""]
    return "\n".join(lines).rstrip() + "\n"


RUNNERS: dict[int, Callable[[Bench], Goal]] = {
    1: goal_warm,
    2: goal_first,
    3: goal_hinted,
    4: goal_diff,
    5: goal_startup,
    6: goal_memory,
    7: goal_disk,
}


def parse_only(text: str | None) -> list[int]:
    if not text:
        return sorted(GOALS)
    chosen = sorted({int(part) for part in text.replace(" ", "").split(",") if part})
    unknown = [n for n in chosen if n not in GOALS]
    if unknown:
        raise argparse.ArgumentTypeError(f"no such goal: {unknown} (goals are 1 to 7)")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny trees: a smoke run of under a minute"
    )
    parser.add_argument(
        "--reps", type=int, default=None, help="interleaved rounds per goal (default 5)"
    )
    parser.add_argument(
        "--only", type=parse_only, default=None, metavar="1,3,...", help="run only these goals"
    )
    parser.add_argument(
        "--files", type=int, default=None, help="files in the big tree (default 100000)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where trees and stores are made"
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help=f"where run.json and RESULTS.md go (default: {RESULTS_DIR}/run.json and {RESULTS_MD})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the trees and stores")
    args = parser.parse_args(argv)
    params = Params.from_args(args)
    goals = args.only or sorted(GOALS)
    json_path = (args.results_dir or RESULTS_DIR) / "run.json"
    md_path = args.results_dir / "RESULTS.md" if args.results_dir else RESULTS_MD
    shown = ".venv/bin/python" if Path(PYTHON).parent.parent == ROOT / ".venv" else PYTHON
    command = " ".join([shown, "bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    load_start = os.getloadavg()
    began = time.perf_counter()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="snap-bench-run-", dir=args.workdir))
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=workdir,
        capture_output=True,
        env=clean_env(),
        check=False,
    )
    if inside.returncode == 0:
        log(
            f"warning: {workdir} is inside the Git checkout {inside.stdout.decode().strip()}:"
            " snap will see it as a project and its ignore rules; use --workdir outside it"
        )
    byte_compile()
    bench = Bench(params, workdir)
    done: dict[str, Any] = {}
    failed = False
    try:
        for number in goals:
            log(f"=== goal {number}: {GOALS[number]}")
            # Let the disk write back what the last goal wrote (goal 2 writes hundreds of MB),
            # so no goal is timed against another's write-back.
            os.sync()
            try:
                goal = RUNNERS[number](bench)
                done[str(number)] = goal.document()
            except Exception:
                failed = True
                text = traceback.format_exc()
                print(text, file=sys.stderr)
                done[str(number)] = {
                    "title": GOALS[number],
                    "status": "error",
                    "error": text,
                    "variants": {},
                    "tables": [],
                }
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    document = {
        "benchmark": "run",
        "measured_at": _dt.datetime.now(tz=_dt.UTC).isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - began,
        "command": command,
        "machine": machine(load_start),
        "params": dataclasses.asdict(params) | {"goals": goals},
        "trees": bench.trees(),
        "mismatches": bench.mismatches,
        "goals": done,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(document, command, os.path.relpath(json_path, md_path.parent))
    md_path.write_text(text)
    print(text)
    log(f"wrote {json_path} and {md_path} in {document['seconds']:.0f}s")
    if bench.mismatches:
        print(
            f"\n!!!!!!!! {len(bench.mismatches)} MISMATCH(ES): see the top of {md_path}",
            file=sys.stderr,
        )
    return 1 if failed or bench.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
