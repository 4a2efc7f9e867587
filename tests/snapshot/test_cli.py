"""The `snap` CLI contract: exit codes, one-line errors, one JSON document, ids, pipes, -C."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import pty
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from snaptools import Snap, assert_one_error_line, git, populate, run_cli

from snapshot import AmbiguousSnapshot, Store, SyncStore

pytestmark = pytest.mark.anyio

SNAP = (sys.executable, "-m", "snapshot.cli")


def unique_prefix(target: str, others: list[str]) -> str:
    """The shortest prefix of ``target`` (4 characters at least) no other id starts with."""
    for length in range(4, len(target) + 1):
        prefix = target[:length]
        if not any(other.startswith(prefix) for other in others if other != target):
            return prefix
    raise AssertionError(target)


def test_usage_errors_exit_2(snap: Snap) -> None:
    """No command, an unknown one, a bad option value or a missing argument: exit 2."""
    for args in (
        [],
        ["frobnicate"],
        ["capture", "--max-file-size", "lots"],
        ["restore"],
        ["diff", "--stat", "--name-status"],
        ["gc", "--keep-last", "-1"],
    ):
        code, out, err = snap(*args)
        assert code == 2, (args, code, err)
        assert out == b""
        assert b"usage:" in err
        assert b"Traceback" not in err


def test_failures_exit_1_with_one_error_line(snap: Snap, tmp_path: Path) -> None:
    """Unknown id, no snapshots yet, a missing path, a missing tree: one line, no traceback."""
    line = assert_one_error_line(*snap("show", "latest")[::2])
    assert "snapshot" in line
    snap.json("capture")
    code, out, err = snap("--json", "show", "zzzzzzzz")
    assert out == b""
    assert "zzzzzzzz" in assert_one_error_line(code, err)
    code, _, err = snap("cat", "latest", "no/such/file.txt")
    assert "no/such/file.txt" in assert_one_error_line(code, err)
    code, _, err = run_cli(["-C", str(tmp_path / "missing"), "--store", str(snap.store), "list"])
    assert_one_error_line(code, err)


def test_json_output_is_exactly_one_document(snap: Snap, project: Path) -> None:
    """Every command's --json stdout parses whole, before or after the command name."""
    created = json.loads(snap.ok("--json", "capture", "-m", "first"))
    assert set(created) >= {"id", "tree", "created_at", "message", "skipped"}
    assert created["message"] == "first"
    assert len(created["tree"]) == 40
    populate(project, {"README.md": b"# edited\n"})
    second = json.loads(snap.ok("capture", "--json"))
    documents = [
        snap.ok("--json", "list"),
        snap.ok("show", "--json", created["id"]),
        snap.ok("--json", "diff", created["id"], second["id"]),
        snap.ok("--json", "diff", "--name-status"),
        snap.ok("--json", "restore", "--dry-run", created["id"]),
        snap.ok("--json", "revert", created["id"], "README.md"),
        snap.ok("--json", "gc", "--keep-last", "10"),
        snap.ok("--json", "verify"),
    ]
    for document in documents:
        json.loads(document)
    assert json.loads(documents[0])[1]["id"] == created["id"]


def test_json_cat_is_one_document_or_refused(snap: Snap) -> None:
    """`snap --json cat` keeps the contract too: one JSON document holding the exact bytes."""
    snap.json("capture")
    code, out, _ = snap("--json", "cat", "latest", "README.md")
    assert code == 0
    document = json.loads(out)
    raw = snap.ok("cat", "latest", "README.md")
    assert base64.b64decode(document["base64"]) == raw
    assert document["size"] == len(raw)
    assert document["text"] == raw.decode()


def test_created_at_is_iso_8601(snap: Snap) -> None:
    """created_at parses as an ISO 8601 timestamp with a zone."""
    created = snap.json("capture")
    stamp = dt.datetime.fromisoformat(created["created_at"])
    assert stamp.tzinfo is not None


async def test_ids_full_prefix_tree_and_latest(project: Path, store_dir: Path) -> None:
    """Full id, a unique 4+ prefix, the tree hash and `latest` all name a snapshot."""
    store = await Store.open(project, store=store_dir)
    first = await store.capture("first")
    populate(project, {"README.md": b"# second\n"})
    second = await store.capture("second")
    ids = [first.id, second.id]
    snap = Snap(project, store_dir)
    assert snap.json("show", first.id)["id"] == first.id
    assert snap.json("show", unique_prefix(first.id, ids))["id"] == first.id
    assert snap.json("show", first.tree)["id"] == first.id
    assert snap.json("show", first.tree[:12])["id"] == first.id
    assert snap.ok("cat", unique_prefix(second.id, ids), "README.md") == b"# second\n"
    assert [c["path"] for c in snap.json("diff", first.tree, "latest")] == ["README.md"]


async def test_unknown_and_ambiguous_ids_say_which(project: Path, store_dir: Path) -> None:
    """An ambiguous prefix names the snapshots it matches; an unknown id is named too."""
    store = await Store.open(project, store=store_dir)
    first = await store.capture()
    second = await store.capture()
    common = os.path.commonprefix([first.id, second.id])  # noqa: RUF071 - plain strings
    assert len(common) >= 4, "two captures a moment apart share their time prefix"
    snap = Snap(project, store_dir)
    line = assert_one_error_line(*snap("show", common[:4])[::2])
    assert "ambiguous" in line
    assert first.id in line and second.id in line
    assert common[:4] in line
    with pytest.raises(AmbiguousSnapshot, match="ambiguous"):
        await store.show(common[:4])
    line = assert_one_error_line(*snap("cat", "0000zzzz", "README.md")[::2])
    assert "0000zzzz" in line


def test_double_dash_allows_paths_beginning_with_a_dash(snap: Snap, project: Path) -> None:
    """`--` ends the options: `snap cat ID -- -file` and `snap revert ID -- -file`."""
    populate(project, {"-dash.txt": b"dash\n"})
    created = snap.json("capture")
    assert snap.ok("cat", created["id"], "--", "-dash.txt") == b"dash\n"
    populate(project, {"-dash.txt": b"changed\n"})
    result = snap.json("revert", created["id"], "--", "-dash.txt")
    assert result["written"] == ["-dash.txt"]
    assert (project / "-dash.txt").read_bytes() == b"dash\n"


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_closed_pipe_ends_quietly(snap: Snap, project: Path, reader: str) -> None:
    """`snap diff | head -1` and `snap diff | true` with a big diff: nothing on stderr."""
    SyncStore.open(project, store=snap.store).capture()
    populate(
        project,
        {f"big/{n}.txt": "".join(f"{n} {i}\n" for i in range(2000)).encode() for n in range(20)},
    )
    command = " ".join(
        shlex.quote(part)
        for part in [*SNAP, "-C", str(project), "--store", str(snap.store), "diff"]
    )
    result = subprocess.run(
        ["sh", "-c", f"{command} | {reader}"], capture_output=True, timeout=120, check=False
    )
    assert result.stderr == b""
    assert result.returncode == 0
    if reader == "head -1":
        assert result.stdout.startswith(b"diff --git a/big/")
        assert result.stdout.count(b"\n") == 1


def test_nothing_on_stderr_when_it_is_not_a_terminal(snap: Snap, project: Path) -> None:
    """No progress or chatter on a non-terminal stderr for any successful command."""
    created = SyncStore.open(project, store=snap.store).capture()
    populate(project, {"README.md": b"# edited\n"})
    for args in (["capture"], ["diff"], ["restore", created.id]):
        code, _, err = snap(*args)
        assert code == 0
        assert err == b"", (args, err)


def test_terminal_stderr_does_not_spoil_json_stdout(snap: Snap) -> None:
    """With stderr a terminal (progress may show there), stdout is still one JSON document."""
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [*SNAP, "-C", str(snap.worktree), "--store", str(snap.store), "--json", "capture"],
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=60,
            check=False,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert json.loads(result.stdout)["id"]
    assert b"Traceback" not in b"".join(chunks)


# ------------------------------------------------------------------------ which tree


def test_without_c_the_tree_is_the_top_of_the_checkout(project: Path, store_dir: Path) -> None:
    """From a sub-folder of a checkout, the whole checkout is captured; paths are relative to
    the current folder."""
    inside = project / "src" / "util"
    code, out, err = run_cli(["--store", str(store_dir), "--json", "capture"], cwd=inside)
    assert code == 0, err
    created = json.loads(out)
    store = SyncStore.open(project, store=store_dir)
    assert store.cat(created["id"], "README.md") == b"# project\n"
    code, out, _ = run_cli(["--store", str(store_dir), "cat", "latest", "helpers.py"], cwd=inside)
    assert code == 0
    assert out == (project / "src" / "util" / "helpers.py").read_bytes()
    # The default store (no --store) is the one Store.open gives for the top of the checkout.
    code, out, err = run_cli(["--json", "capture"], cwd=inside)
    assert code == 0, err
    default = SyncStore.open(project)
    assert [s.id for s in default.list()] == [json.loads(out)["id"]]


def test_without_c_outside_any_checkout_the_tree_is_the_current_folder(
    plain: Path, store_dir: Path
) -> None:
    """In a plain folder's sub-folder, that sub-folder is the tree."""
    inside = plain / "data"
    code, out, err = run_cli(["--store", str(store_dir), "--json", "capture"], cwd=inside)
    assert code == 0, err
    created = json.loads(out)
    assert SyncStore.open(inside, store=store_dir).cat(created["id"], "values.csv") == (
        b"a,b\n1,2\n"
    )
    code, out, _ = run_cli(["-C", "data", "--store", str(store_dir), "list"], cwd=plain)
    assert code == 0
    assert created["id"].encode() in out


def test_home_as_the_tree_is_refused_unless_named(private_home: Path, tmp_path: Path) -> None:
    """cwd = HOME without -C is refused (exit 1, one line); -C HOME is allowed; so is / refused."""
    populate(private_home, {"file.txt": b"in home\n"})
    code, out, err = run_cli(["--store", str(tmp_path / "store"), "capture"], cwd=private_home)
    line = assert_one_error_line(code, err)
    assert out == b""
    assert "-C" in line
    assert not (tmp_path / "store").exists()
    code, out, err = run_cli(["list"], cwd=Path("/"))
    assert_one_error_line(code, err)
    code, out, err = run_cli(
        ["-C", str(private_home), "--store", str(tmp_path / "store"), "--json", "capture"],
        cwd=private_home,
    )
    assert code == 0, err
    snapshot_id = json.loads(out)["id"]
    store = SyncStore.open(private_home, store=tmp_path / "store")
    assert store.cat(snapshot_id, "file.txt") == b"in home\n"


def test_home_inside_a_checkout_of_home_is_refused(private_home: Path, tmp_path: Path) -> None:
    """A home folder that is itself a checkout (dotfiles) is refused from any folder in it."""
    git("init", "--quiet", private_home)
    (private_home / "projects").mkdir()
    code, _, err = run_cli(
        ["--store", str(tmp_path / "store"), "list"], cwd=private_home / "projects"
    )
    assert_one_error_line(code, err)
