"""Smoke test of the benchmarks: each one runs at its ``--quick`` size and writes its JSON.

No figures are judged here (the benchmarks themselves live in ``bench/``); this only keeps the
scripts runnable and their result files well formed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

EXPECTED = {
    "capture_index": {
        "variants": {"fresh", "seeded", "read_tree", "store_unchanged", "store_touched10"},
        "baseline": "seeded",
    },
    "read_files": {
        "variants": {
            "git_show",
            "cat_file_p",
            "cat_file_batch",
            "cat_file_batch_oids",
            "pygit2",
            "store_cat",
        },
        "baseline": "cat_file_batch",
    },
    "procio_overhead": {
        "variants": {
            f"{workload}.{name}"
            for workload in ("spawn", "pipe")
            for name in (
                "subprocess",
                "procio_run_sync",
                "run_sync_boxed",
                "procio_asyncio",
                "procio_trio",
                "anyio_asyncio",
            )
        },
        "baseline": "subprocess",
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bench_quick(name: str, tmp_path: Path) -> None:
    """The script exits 0 and its JSON has every variant with positive medians and ratios."""
    results = tmp_path / "results"
    argv = [sys.executable, str(BENCH / f"{name}.py"), "--quick", "--results-dir", str(results)]
    if name != "procio_overhead":  # the others build a tree: keep it in the test's folder
        argv += ["--workdir", str(tmp_path)]
    done = subprocess.run(
        argv,
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    document = json.loads((results / f"{name}.json").read_text())
    expected = EXPECTED[name]
    assert document["benchmark"] == name
    assert document["baseline"] == expected["baseline"]
    assert set(document["variants"]) == expected["variants"]
    assert set(document["ratios"]) == expected["variants"]
    for variant, figures in document["variants"].items():
        for key in ("median_s", "min_s", "max_s"):
            assert figures[key] > 0, (variant, key, figures[key])
        assert figures["n"] > 0
        assert document["ratios"][variant] > 0
    assert document["params"]["quick"] is True
    assert {"cores", "git", "python"} <= set(document["machine"])


def test_run_quick(tmp_path: Path) -> None:
    """``run.py --quick`` exits 0 and writes RESULTS.md and run.json with every goal's medians.

    No figure is judged: only that every goal ran, every variant has numeric figures, and no
    check of trees or texts found a mismatch.
    """
    results = tmp_path / "results"
    argv = [
        sys.executable,
        str(BENCH / "run.py"),
        "--quick",
        "--results-dir",
        str(results),
        "--workdir",
        str(tmp_path),
    ]
    done = subprocess.run(
        argv,
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    markdown = (results / "RESULTS.md").read_text()
    document = json.loads((results / "run.json").read_text())
    assert markdown.startswith("# Benchmark results")
    assert document["mismatches"] == []
    assert document["params"]["quick"] is True
    assert {"cores", "git", "python", "loadavg_at_start", "loadavg_at_end"} <= set(
        document["machine"]
    )
    assert set(document["goals"]) == {str(n) for n in range(1, 8)}
    for number, goal in document["goals"].items():
        assert goal["status"] in ("ok", "partial"), (number, goal.get("error"))
        assert goal["variants"], number
        assert goal["tables"], number
        for name, figures in goal["variants"].items():
            for key in ("median", "min", "max"):
                assert isinstance(figures[key], (int, float)), (number, name, key)
            assert figures["min"] <= figures["median"] <= figures["max"], (number, name)
            assert figures["n"] == len(figures["runs"]) > 0, (number, name)
        assert f"## {number}. " in markdown
