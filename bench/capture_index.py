"""Warm captures of a large tree: fresh index, seeded copy, ``read-tree``, ``Store.capture``.

Builds a tree of N small files in nested folders (a plain folder, or with ``--project-repo`` a
Git checkout of its own), captures it once into a store, then runs interleaved rounds of:

* ``fresh``     git add --all into an empty scratch index, then write-tree;
* ``seeded``    shutil.copy2 of the store's promoted index, then the same add and write-tree;
* ``read_tree`` git read-tree <last tree> into an empty index, then the same add and write-tree;
* ``store_unchanged`` the product's ``Store.capture()`` end to end on the unchanged tree;
* ``store_touched10`` ``Store.capture()`` after rewriting 10 files (untimed) before it.

Git runs through the store's own :class:`snapshot.git.StoreGit` (procio, hermetic config), so
the measured path is the product's. Every git process is recorded (what it was, how long it
took), which gives the processes spawned per capture and the time per step.

Run: ``.venv/bin/python bench/capture_index.py [--files N] [--reps R] [--quick]``.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from _common import base_parser, interleave, print_table, summary, timed, write_results
from trees import FILES_PER_FOLDER, build_tree, make_project_repo

import procio
import snapshot.capture
from snapshot import Store
from snapshot.git import StoreGit

TOUCHED = 10


# --------------------------------------------------------------------------- recording


class Recorder:
    """Records every child process procio runs: a short label and its wall time."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []
        self._original = procio.run

    @staticmethod
    def label(argv: Sequence[str]) -> str:
        """``git <subcommand> <up to two --options>``, skipping the ``-c`` settings."""
        args = list(argv[1:])
        while len(args) >= 2 and args[0] == "-c":
            args = args[2:]
        if not args:
            return argv[0]
        options = [a for a in args[1:] if a.startswith("--")][:2]
        return " ".join([args[0], *options])

    async def _run(self, argv: Sequence[str], **options: Any) -> procio.Result:
        start = time.perf_counter()
        try:
            return await self._original(argv, **options)
        finally:
            self.events.append((self.label(argv), time.perf_counter() - start))

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route ``procio.run`` (as every product module calls it) through the recorder."""
        procio.run = self._run  # type: ignore[assignment]
        try:
            yield
        finally:
            procio.run = self._original  # type: ignore[assignment]

    def take(self) -> list[tuple[str, float]]:
        """The events since the last take."""
        events, self.events = self.events, []
        return events


class SeedTimer:
    """Times the product's ``seed_index`` (the copy of the last good index)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._original = snapshot.capture.seed_index

    def _seed(self, *args: Any, **kwargs: Any) -> Any:
        # Whatever the product's signature is, pass it through and hand back its result.
        start = time.perf_counter()
        try:
            return self._original(*args, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - start)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        snapshot.capture.seed_index = self._seed  # type: ignore[assignment]
        try:
            yield
        finally:
            snapshot.capture.seed_index = self._original  # type: ignore[assignment]

    def take(self) -> float:
        total, self.seconds = sum(self.seconds), []
        return total


# --------------------------------------------------------------------------- the variants


class Bench:
    """The store, the scratch index and the variants measured against them."""

    def __init__(
        self,
        store: Store,
        paths: list[Path],
        scratch: Path,
        recorder: Recorder,
        seeds: SeedTimer,
    ) -> None:
        self.store = store
        self.git: StoreGit = store._git
        self.last_index: Path = store._layout.index
        self.paths = paths
        self.scratch = scratch
        self.expected_tree = ""
        self.rounds = 0
        self.recorder = recorder
        self.seeds = seeds
        #: Per variant, per run: the processes it ran.
        self.events: dict[str, list[list[tuple[str, float]]]] = {}
        self.seed_seconds: dict[str, list[float]] = {}
        self.mismatches: list[str] = []

    def _sync(self, name: str, body: Callable[[], Awaitable[str]]) -> Callable[[], None]:
        """A variant as one blocking call on its own event loop (as ``SyncStore`` does)."""

        def action() -> None:
            tree = anyio.run(body)
            self.events.setdefault(name, []).append(self.recorder.take())
            self.seed_seconds.setdefault(name, []).append(self.seeds.take())
            if name.startswith("store_"):
                self.expected_tree = tree
            elif tree != self.expected_tree:
                self.mismatches.append(f"{name}: {tree} != {self.expected_tree}")

        return action

    def _clear_scratch(self) -> None:
        for path in (self.scratch, self.scratch.with_name(self.scratch.name + ".lock")):
            path.unlink(missing_ok=True)

    async def _add_all_and_write(self) -> str:
        await self.git.run("add", "--all", index=self.scratch)
        return (await self.git.out("write-tree", index=self.scratch)).decode().strip()

    async def fresh(self) -> str:
        """(a) git add --all into an empty index, then write-tree."""
        self._clear_scratch()
        return await self._add_all_and_write()

    async def seeded(self) -> str:
        """(b) a copy of the last promoted index (stat data and all), then the same add."""
        self._clear_scratch()
        shutil.copy2(self.last_index, self.scratch)
        return await self._add_all_and_write()

    async def read_tree(self) -> str:
        """(c) seed with ``git read-tree <last tree>`` (no stat data), then the same add."""
        self._clear_scratch()
        await self.git.run("read-tree", self.expected_tree, index=self.scratch)
        return await self._add_all_and_write()

    async def store_capture(self) -> str:
        """(d) the product end to end: lock, seed, add, list, write-tree, mktag, update-ref."""
        return (await self.store.capture("bench")).tree

    def touch(self, name: str) -> None:
        """Before ``store_touched10``: rewrite 10 files (new content, so a new tree)."""
        if name != "store_touched10":
            return
        self.rounds += 1
        step = max(1, len(self.paths) // TOUCHED)
        for path in self.paths[::step][:TOUCHED]:
            with path.open("ab") as handle:
                handle.write(f"round {self.rounds}\n".encode())

    def variants(self) -> dict[str, Callable[[], None]]:
        return {
            "fresh": self._sync("fresh", self.fresh),
            "seeded": self._sync("seeded", self.seeded),
            "read_tree": self._sync("read_tree", self.read_tree),
            "store_unchanged": self._sync("store_unchanged", self.store_capture),
            "store_touched10": self._sync("store_touched10", self.store_capture),
        }


def breakdown(runs: list[list[tuple[str, float]]], seeds: list[float]) -> dict[str, Any]:
    """Processes per run and the median seconds of each step (summed per run)."""
    steps: dict[str, list[float]] = {}
    for run in runs:
        per_run: dict[str, float] = {}
        for label, seconds in run:
            per_run[label] = per_run.get(label, 0.0) + seconds
        for label, seconds in per_run.items():
            steps.setdefault(label, []).append(seconds)
    return {
        "processes_per_run": statistics.median(len(run) for run in runs),
        "process_seconds_median": statistics.median(sum(s for _, s in run) for run in runs),
        "seed_copy_seconds_median": statistics.median(seeds) if seeds else 0.0,
        "steps_median_s": {label: statistics.median(s) for label, s in steps.items()},
    }


def one_off(recorder: Recorder, seeds: SeedTimer, action: Callable[[], object]) -> dict[str, Any]:
    """Time a single product call and break it down the same way."""
    seconds = timed(action)
    return {"seconds": seconds, **breakdown([recorder.take()], [seeds.take()])}


def print_breakdown(name: str, info: dict[str, Any], total: float) -> None:
    print(
        f"\n{name}: {info['processes_per_run']:g} processes, "
        f"{info['process_seconds_median']:.3f}s in them, "
        f"seed copy {info['seed_copy_seconds_median'] * 1000:.1f} ms, "
        f"total {total:.3f}s"
    )
    for label, seconds in info["steps_median_s"].items():
        print(f"  {seconds:8.3f}s  git {label}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the tree")
    parser.add_argument(
        "--project-repo",
        action="store_true",
        help="make the tree a Git checkout of its own (results go to capture_index-repo.json)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where the tree is built")
    parser.add_argument("--keep", action="store_true", help="keep the tree and the store")
    args = parser.parse_args(argv)
    files = 300 if args.quick else args.files
    reps = args.reps or (2 if args.quick else 9)
    # Files written in the second an index is written are "racily clean" (git re-hashes them
    # once); pausing past that second keeps the warm figures free of it.
    pause = 0.0 if args.quick else 1.1
    name = "capture_index-repo" if args.project_repo else "capture_index"

    workdir = Path(tempfile.mkdtemp(prefix="snap-bench-capture-", dir=args.workdir))
    try:
        tree = workdir / "tree"
        print(f"building {files} files in {tree} ...", file=sys.stderr, flush=True)
        paths: list[Path] = []
        build_seconds = timed(lambda: paths.extend(build_tree(tree, files)))
        if args.project_repo:
            build_seconds += timed(lambda: make_project_repo(tree))
        print(f"  built in {build_seconds:.1f}s", file=sys.stderr, flush=True)

        recorder = Recorder()
        seeds = SeedTimer()
        with recorder.installed(), seeds.installed():
            opened: list[Store] = []
            open_info = one_off(
                recorder,
                seeds,
                lambda: opened.append(
                    anyio.run(partial(Store.open, tree, store=workdir / "store"))
                ),
            )
            store = opened[0]
            # Nothing in the store yet: every file is hashed and written.
            cold = one_off(recorder, seeds, lambda: anyio.run(store.capture, "cold"))
            time.sleep(pause)
            settle = one_off(recorder, seeds, lambda: anyio.run(store.capture, "settle"))
            time.sleep(pause)

            bench = Bench(store, paths, workdir / "scratch-index", recorder, seeds)
            bench.expected_tree = anyio.run(store.show, "latest").tree
            print(f"{reps} interleaved rounds ...", file=sys.stderr, flush=True)
            samples = interleave(bench.variants(), reps, before=bench.touch)

        if bench.mismatches:
            print("tree mismatch: " + "; ".join(bench.mismatches), file=sys.stderr)
            return 1
        results = {variant: summary(runs) for variant, runs in samples.items()}
        steps = {
            variant: breakdown(bench.events[variant], bench.seed_seconds[variant])
            for variant in results
        }
        index_bytes = bench.last_index.stat().st_size
        print_table(
            f"warm capture of {files} files, {reps} interleaved rounds (seconds)",
            results,
            "seeded",
        )
        print(f"\nindex: {index_bytes / 1e6:.1f} MB; tree built in {build_seconds:.1f}s")
        print_breakdown("Store.open", open_info, open_info["seconds"])
        print_breakdown("cold first Store.capture", cold, cold["seconds"])
        print_breakdown("settling Store.capture", settle, settle["seconds"])
        for variant in ("store_unchanged", "store_touched10"):
            print_breakdown(variant, steps[variant], results[variant]["median_s"])
        write_results(
            name,
            args.results_dir,
            params={
                "files": files,
                "reps": reps,
                "quick": args.quick,
                "project_repo": args.project_repo,
                "files_per_folder": FILES_PER_FOLDER,
                "touched": TOUCHED,
            },
            variants=results,
            baseline="seeded",
            extra={
                "build_seconds": build_seconds,
                "index_bytes": index_bytes,
                "one_off": {"store_open": open_info, "cold_capture": cold, "settle": settle},
                "breakdown": steps,
            },
        )
        return 0
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
