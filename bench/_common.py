"""Shared helpers of the benchmarks: timing, medians, the machine, the table and the JSON."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: Where results go unless ``--results-dir`` says otherwise (gitignored).
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: The project root, put on ``sys.path`` so the benchmarks run from a plain checkout too.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="a tiny smoke size that finishes in seconds"
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions per variant")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where the JSON result goes (default {RESULTS_DIR})",
    )
    return parser


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of ``action`` took (wall clock)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def interleave(
    variants: Mapping[str, Callable[[], object]],
    reps: int,
    *,
    before: Callable[[str], None] | None = None,
    after: Callable[[str], None] | None = None,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Run every variant once per round, A B C A B C ..., and collect each one's seconds.

    ``before(name)`` runs untimed ahead of each measured call (to reset state), and
    ``after(name)`` untimed after it (to check or measure what it left).
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for rep in range(reps):
        for name, action in variants.items():
            if before is not None:
                before(name)
            samples[name].append(timed(action))
            if after is not None:
                after(name)
        if progress:
            done = ", ".join(f"{n} {s[-1]:.3f}s" for n, s in samples.items())
            print(f"  round {rep + 1}/{reps}: {done}", file=sys.stderr, flush=True)
    return samples


def summary(samples: Sequence[float], per: int = 1) -> dict[str, Any]:
    """Median, min and max of ``samples`` (each divided by ``per``), and the raw runs."""
    runs = [s / per for s in samples]
    return {
        "median_s": statistics.median(runs),
        "min_s": min(runs),
        "max_s": max(runs),
        "n": len(runs),
        "runs_s": runs,
    }


def stats(values: Sequence[float], unit: str = "s") -> dict[str, Any]:
    """Median, min and max of ``values`` in ``unit``, and every value (for any kind of figure)."""
    runs = [float(v) for v in values]
    return {
        "unit": unit,
        "median": statistics.median(runs),
        "min": min(runs),
        "max": max(runs),
        "n": len(runs),
        "runs": runs,
    }


def ratios(results: Mapping[str, Mapping[str, Any]], baseline: str) -> dict[str, float]:
    """Each variant's median divided by the baseline's median."""
    base = results[baseline]["median_s"]
    return {name: r["median_s"] / base for name, r in results.items()}


def machine(loadavg_at_start: Sequence[float] | None = None) -> dict[str, Any]:
    """What the figures were measured on (with the load average then, and at the start if given)."""
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    found = {
        "cores": os.cpu_count(),
        "git": git.stdout.strip(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if loadavg_at_start is not None:
        found["loadavg_at_start"] = list(loadavg_at_start)
    found["loadavg_at_end"] = os.getloadavg()
    return found


def clean_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``GIT_*`` variable or ``SNAP_STORE``, plus these.

    A benchmark started from inside a git hook would otherwise hand its ``GIT_DIR`` or
    ``GIT_INDEX_FILE`` to every child.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not (key.startswith("GIT_") and key != "GIT_EXEC_PATH") and key != "SNAP_STORE"
    }
    env.update(overrides or {})
    return env


def disk_usage(root: Path) -> dict[str, int]:
    """Bytes on disk (``st_blocks`` × 512), apparent bytes and files of everything under ``root``.

    Hard links are counted at every path (a copy made with links counts in full).
    """
    blocks = apparent = files = 0
    stack = [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                blocks += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    apparent += info.st_size
                    files += 1
    return {"disk_bytes": blocks, "apparent_bytes": apparent, "files": files}


def loose_objects(git_dir: Path) -> int:
    """How many loose objects a Git repository holds."""
    objects = git_dir / "objects"
    if not objects.is_dir():
        return 0
    return sum(
        sum(1 for _ in folder.iterdir())
        for folder in objects.iterdir()
        if len(folder.name) == 2 and folder.is_dir()
    )


def print_table(
    title: str,
    results: Mapping[str, Mapping[str, Any]],
    baseline: str,
    *,
    unit: str = "s",
    notes: Mapping[str, str] | None = None,
) -> None:
    """A small table: variant, median, min, max, ratio to the baseline."""
    scale, label = (1000.0, "ms") if unit == "ms" else (1.0, "s")
    rel = ratios(results, baseline)
    width = max(len(name) for name in results)
    print(f"\n{title}")
    head = (
        f"{'variant':<{width}}  {'median ' + label:>12}  {'min':>10}  {'max':>10}"
        f"  {'× ' + baseline}"
    )
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        note = f"  {notes[name]}" if notes and name in notes else ""
        print(
            f"{name:<{width}}  {r['median_s'] * scale:>12.3f}  {r['min_s'] * scale:>10.3f}"
            f"  {r['max_s'] * scale:>10.3f}  {rel[name]:>6.2f}{note}"
        )


def write_results(
    name: str,
    results_dir: Path,
    *,
    params: Mapping[str, Any],
    variants: Mapping[str, Mapping[str, Any]],
    baseline: str,
    relative: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<results_dir>/<name>.json`` and return its path.

    ``relative`` replaces the ratios to ``baseline`` (for results with several baselines).
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "measured_at": _dt.datetime.now(tz=_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": dict(params),
        "baseline": baseline,
        "variants": dict(variants),
        "ratios": dict(relative) if relative is not None else ratios(variants, baseline),
        **(extra or {}),
    }
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return path
