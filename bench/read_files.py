"""Reading every file of a snapshot: one process per file, one batched process, or pygit2.

Captures a tree of ~1,000 small files into a store (one snapshot), then runs interleaved
rounds, each reading the bytes of all of its files:

* ``git_show``      one ``git show <tree>:<path>`` process per file (through procio);
* ``cat_file_p``    one ``git cat-file -p <blob>`` process per file (through procio);
* ``cat_file_batch`` one ``git cat-file --batch`` process fed every ``<tree>:<path>``;
* ``cat_file_batch_oids`` the same fed blob ids (paths already resolved, untimed);
* ``pygit2``        in process, as the store's ``trees`` module does: open, flatten, read;
* ``store_cat``     the product's ``Store.cat(id, path)`` once per file, on one event loop.

Git runs through the store's own :class:`snapshot.git.StoreGit` (procio, hermetic config), all
on one event loop per round. Every variant's bytes are checked against the files on disk.

Run: ``.venv/bin/python bench/read_files.py [--files N] [--reps R] [--quick]``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import anyio
from _common import base_parser, interleave, print_table, summary, write_results

from snapshot import Store
from snapshot.git import StoreGit
from snapshot.trees import flatten, open_repo, read_blob


def build_tree(root: Path, files: int) -> dict[str, bytes]:
    """``files`` small files (100 to 1,600 bytes) spread over 100 folders two levels deep."""
    contents: dict[str, bytes] = {}
    for number in range(files):
        relative = f"src/p{number % 10}/m{number // 10 % 10}/file_{number:05d}.py"
        data = f"# module {number}\nVALUE = {number}\n".encode() * (5 + number % 60)
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        contents[relative] = data
    return contents


def parse_batch(output: bytes, count: int) -> list[bytes]:
    """The object bodies of ``git cat-file --batch`` output, in order."""
    bodies: list[bytes] = []
    view = memoryview(output)
    position = 0
    for _ in range(count):
        newline = output.index(b"\n", position)
        header = output[position:newline].split()
        if len(header) != 3:
            raise ValueError(f"cat-file --batch: {output[position:newline]!r}")
        size = int(header[2])
        start = newline + 1
        bodies.append(bytes(view[start : start + size]))
        position = start + size + 1
    return bodies


class Readers:
    """The ways of reading every file of one snapshot."""

    def __init__(self, store: Store, snapshot_id: str, tree: str, paths: list[str]) -> None:
        self.store = store
        self.git: StoreGit = store._git
        self.snapshot_id = snapshot_id
        self.tree = tree
        self.paths = paths
        repo = open_repo(store.path)
        entries = flatten(repo, tree)
        self.oids = [entries[p.encode()].oid for p in paths]

    async def git_show(self) -> list[bytes]:
        return [(await self.git.out("show", f"{self.tree}:{p}")) for p in self.paths]

    async def cat_file_p(self) -> list[bytes]:
        return [(await self.git.out("cat-file", "-p", oid)) for oid in self.oids]

    async def cat_file_batch(self) -> list[bytes]:
        names = "".join(f"{self.tree}:{p}\n" for p in self.paths).encode()
        output = await self.git.out("cat-file", "--batch", input=names)
        return parse_batch(output, len(self.paths))

    async def cat_file_batch_oids(self) -> list[bytes]:
        names = "".join(f"{oid}\n" for oid in self.oids).encode()
        output = await self.git.out("cat-file", "--batch", input=names)
        return parse_batch(output, len(self.oids))

    async def pygit2(self) -> list[bytes]:
        repo = open_repo(self.store.path)
        entries = flatten(repo, self.tree)
        return [read_blob(repo, entries[p.encode()].oid) for p in self.paths]

    async def store_cat(self) -> list[bytes]:
        return [await self.store.cat(self.snapshot_id, p) for p in self.paths]

    def variants(self, expected: list[bytes], failures: list[str]) -> dict[str, Callable[[], None]]:
        """Each reader as one blocking call on its own event loop, its bytes checked."""

        def make(name: str, reader: Callable[[], object]) -> Callable[[], None]:
            def action() -> None:
                got = anyio.run(reader)  # type: ignore[arg-type]
                if got != expected:
                    failures.append(name)

            return action

        return {
            "git_show": make("git_show", self.git_show),
            "cat_file_p": make("cat_file_p", self.cat_file_p),
            "cat_file_batch": make("cat_file_batch", self.cat_file_batch),
            "cat_file_batch_oids": make("cat_file_batch_oids", self.cat_file_batch_oids),
            "pygit2": make("pygit2", self.pygit2),
            "store_cat": make("store_cat", self.store_cat),
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="files in the snapshot")
    parser.add_argument("--workdir", type=Path, default=None, help="where the tree is built")
    args = parser.parse_args(argv)
    files = 40 if args.quick else args.files
    reps = args.reps or (2 if args.quick else 9)

    workdir = Path(tempfile.mkdtemp(prefix="snap-bench-read-", dir=args.workdir))
    try:
        contents = build_tree(workdir / "tree", files)
        store = anyio.run(partial(Store.open, workdir / "tree", store=workdir / "store"))
        snap = anyio.run(store.capture, "bench")
        paths = sorted(contents)
        expected = [contents[p] for p in paths]
        readers = Readers(store, snap.id, snap.tree, paths)
        failures: list[str] = []
        print(f"{reps} interleaved rounds of reading {files} files ...", file=sys.stderr)
        samples = interleave(readers.variants(expected, failures), reps)
        if failures:
            print(f"wrong bytes from: {sorted(set(failures))}", file=sys.stderr)
            return 1
        results = {name: summary(runs) for name, runs in samples.items()}
        per_file = {name: r["median_s"] / files for name, r in results.items()}
        print_table(
            f"reading all {files} files of one snapshot, {reps} interleaved rounds (seconds)",
            results,
            "cat_file_batch",
        )
        print("\nper file: " + ", ".join(f"{n} {s * 1e3:.3f} ms" for n, s in per_file.items()))
        write_results(
            "read_files",
            args.results_dir,
            params={"files": files, "reps": reps, "quick": args.quick},
            variants=results,
            baseline="cat_file_batch",
            extra={
                "per_file_median_s": per_file,
                "bytes_total": sum(len(b) for b in expected),
            },
        )
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
