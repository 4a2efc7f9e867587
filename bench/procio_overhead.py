"""What procio costs over ``subprocess.run``: spawning a tiny child, and piping 16 MiB through.

Two workloads, each run by every variant in interleaved rounds (A B C D A B C D ...):

* ``spawn``: ``git --version``, 200 runs per variant (10 rounds of 20);
* ``pipe``: 16 MiB fed through ``cat`` and read back, 15 runs per variant (5 rounds of 3).

Variants: ``subprocess`` (``subprocess.run(capture_output=True)``), ``procio_run_sync``
(``procio.run_sync``: a fresh event loop per call), ``run_sync_boxed`` (the same, but the
result handed out of ``anyio.run`` in a box rather than returned: see below), ``procio_asyncio``
and ``procio_trio`` (``await procio.run`` on one running loop per round), and ``anyio_asyncio``
(``anyio.run_process`` on a running asyncio loop: what procio is built on, for reference).
Each call is timed on its own; the figures are medians per call.

Run: ``.venv/bin/python bench/procio_overhead.py [--quick]``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial

import anyio
from _common import base_parser, print_table, ratios, summary, write_results

import procio

#: One child run: argv and the bytes it is fed (or None).
Job = tuple[list[str], bytes | None]
Check = Callable[[bytes], bool]


def _subprocess(job: Job, count: int, check: Check) -> list[float]:
    argv, data = job
    times = []
    for _ in range(count):
        start = time.perf_counter()
        done = subprocess.run(argv, input=data, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0 or not check(done.stdout):
            raise RuntimeError(f"subprocess.run {argv}: bad result")
    return times


def _procio_sync(job: Job, count: int, check: Check) -> list[float]:
    argv, data = job
    times = []
    for _ in range(count):
        start = time.perf_counter()
        result = procio.run_sync(argv, input=data)
        times.append(time.perf_counter() - start)
        if not result.ok or not check(result.stdout):
            raise RuntimeError(f"procio.run_sync {argv}: bad result")
    return times


async def _procio_async(job: Job, count: int, check: Check) -> list[float]:
    argv, data = job
    times = []
    for _ in range(count):
        start = time.perf_counter()
        result = await procio.run(argv, input=data)
        times.append(time.perf_counter() - start)
        if not result.ok or not check(result.stdout):
            raise RuntimeError(f"procio.run {argv}: bad result")
    return times


def _procio_sync_boxed(job: Job, count: int, check: Check) -> list[float]:
    """``run_sync`` as it would be if the result never left ``asyncio.run`` as its return value.

    On Python 3.11, ``asyncio.Runner`` ends by calling ``signal.getsignal(SIGINT)``, which
    formats its own handler, and so the finished main task, with ``repr`` of its result: for a
    :class:`procio.Result` that is the whole of stdout, twice. Handing the result out through a
    box instead measures what ``run_sync`` costs without that.
    """
    argv, data = job
    times = []
    for _ in range(count):
        box: list[procio.Result] = []
        start = time.perf_counter()
        anyio.run(_into_box, box, argv, data)
        times.append(time.perf_counter() - start)
        if not box[0].ok or not check(box[0].stdout):
            raise RuntimeError(f"procio.run {argv}: bad result")
    return times


async def _into_box(box: list[procio.Result], argv: list[str], data: bytes | None) -> None:
    box.append(await procio.run(argv, input=data))


async def _anyio_async(job: Job, count: int, check: Check) -> list[float]:
    argv, data = job
    times = []
    for _ in range(count):
        start = time.perf_counter()
        done = await anyio.run_process(argv, input=data, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0 or not check(done.stdout):
            raise RuntimeError(f"anyio.run_process {argv}: bad result")
    return times


VARIANTS: dict[str, Callable[[Job, int, Check], list[float]]] = {
    "subprocess": _subprocess,
    "procio_run_sync": _procio_sync,
    "run_sync_boxed": _procio_sync_boxed,
    "procio_asyncio": lambda job, n, check: anyio.run(
        partial(_procio_async, job, n, check), backend="asyncio"
    ),
    "procio_trio": lambda job, n, check: anyio.run(
        partial(_procio_async, job, n, check), backend="trio"
    ),
    "anyio_asyncio": lambda job, n, check: anyio.run(
        partial(_anyio_async, job, n, check), backend="asyncio"
    ),
}


def measure(job: Job, check: Check, rounds: int, per_round: int) -> dict[str, list[float]]:
    """Per-call seconds of every variant, rounds interleaved across the variants."""
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for number in range(rounds):
        for name, variant in VARIANTS.items():
            samples[name] += variant(job, per_round, check)
        medians = ", ".join(f"{n} {sorted(s)[len(s) // 2] * 1e3:.2f}ms" for n, s in samples.items())
        print(f"  round {number + 1}/{rounds}: {medians}", file=sys.stderr, flush=True)
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=200, help="git --version runs per variant")
    parser.add_argument("--mib", type=int, default=16, help="MiB fed through cat")
    args = parser.parse_args(argv)
    if args.quick:
        spawn_rounds, spawn_each, pipe_rounds, pipe_each, mib = 2, 5, 2, 1, 1
    else:
        spawn_rounds = args.reps or 10
        spawn_each = max(1, args.spawns // spawn_rounds)
        pipe_rounds, pipe_each, mib = args.reps or 5, 3, args.mib

    print("spawn: git --version ...", file=sys.stderr)
    spawn = measure(
        (["git", "--version"], None),
        lambda out: out.startswith(b"git version"),
        spawn_rounds,
        spawn_each,
    )
    data = bytes(range(256)) * (mib * 4096)
    print(f"pipe: {mib} MiB through cat ...", file=sys.stderr)
    pipe = measure((["cat"], data), lambda out: out == data, pipe_rounds, pipe_each)

    spawn_results = {name: summary(runs) for name, runs in spawn.items()}
    pipe_results = {name: summary(runs) for name, runs in pipe.items()}
    print_table(
        f"spawn git --version: {spawn_rounds * spawn_each} runs per variant (ms per call)",
        spawn_results,
        "subprocess",
        unit="ms",
    )
    print_table(
        f"{mib} MiB through cat: {pipe_rounds * pipe_each} runs per variant (ms per call)",
        pipe_results,
        "subprocess",
        unit="ms",
    )
    variants = {f"spawn.{n}": r for n, r in spawn_results.items()}
    variants |= {f"pipe.{n}": r for n, r in pipe_results.items()}
    relative = {f"spawn.{n}": r for n, r in ratios(spawn_results, "subprocess").items()}
    relative |= {f"pipe.{n}": r for n, r in ratios(pipe_results, "subprocess").items()}
    write_results(
        "procio_overhead",
        args.results_dir,
        params={
            "spawns": spawn_rounds * spawn_each,
            "pipe_runs": pipe_rounds * pipe_each,
            "pipe_mib": mib,
            "quick": args.quick,
        },
        variants=variants,
        baseline="subprocess",
        relative=relative,
        extra={"note": "ratios compare within a workload: spawn.X / spawn.subprocess, etc."},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
