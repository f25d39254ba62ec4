"""core.index_format and core.atomic: one index directory format, written atomically, read with
checks that name what is wrong (foreign, old, other class, corrupt, missing); leftovers of killed
writers are cleaned by the next write."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from annann.core.atomic import atomic_path, clean_stale
from annann.core.index_format import IndexFormatError, IndexWriter, read_index


def write_demo(path, fail=False):
    with IndexWriter(path, "Demo", {"k": 3}, {"size": 4}) as w:
        w.add_array("a", np.arange(4, dtype=np.int64))
        big = w.new_array("b", (4, 2), np.float32)
        big[:] = 1.5
        w.file_path("blob.bin").write_bytes(b"opaque")
        if fail:
            raise RuntimeError("crash while writing")


def test_round_trip_params_state_arrays_files(tmp_path):
    write_demo(tmp_path / "idx")
    stored = read_index(tmp_path / "idx", "Demo")
    assert stored.params == {"k": 3} and stored.state == {"size": 4}
    np.testing.assert_array_equal(stored.array("a", (4,), np.int64), np.arange(4))
    assert stored.array("b", mmap=True).dtype == np.float32
    assert stored.file("blob.bin").read_bytes() == b"opaque"
    manifest = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert manifest["arrays"]["b"]["shape"] == [4, 2] and len(manifest["files"]["blob.bin"]
                                                                ["sha256"]) == 64
    with pytest.raises(IndexFormatError, match="array a is"):
        stored.array("a", (5,))
    with pytest.raises(IndexFormatError, match="lacks the array 'c'"):
        stored.array("c")


def test_failed_write_keeps_the_previous_index_and_leaves_nothing(tmp_path):
    write_demo(tmp_path / "idx")
    before = json.loads((tmp_path / "idx" / "index.json").read_text())
    with pytest.raises(RuntimeError, match="crash"):
        write_demo(tmp_path / "idx", fail=True)
    assert json.loads((tmp_path / "idx" / "index.json").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


@pytest.mark.parametrize("problem, match", [
    ("missing", "no such index"),
    ("no-manifest", r"not an annann index \(index.json missing\)"),
    ("binary-manifest", "corrupt index.json"),
    ("foreign", "format marker 'something-else'"),
    ("old-version", "index format version 1, this annann reads 2: rebuild"),
    ("other-class", "holds a 'Demo' index, not a Other"),
    ("truncated", "file a.npy is corrupt"),
    ("deleted", "file blob.bin is missing"),
])
def test_bad_directories_are_named(tmp_path, problem, match):
    path = tmp_path / "idx"
    if problem != "missing":
        write_demo(path)
    manifest = path / "index.json"
    if problem == "no-manifest":
        manifest.unlink()
    elif problem == "binary-manifest":
        manifest.write_bytes(b"\x00\xff binary")
    elif problem in ("foreign", "old-version"):
        m = json.loads(manifest.read_text())
        m.update({"format": "something-else"} if problem == "foreign" else {"version": 1})
        manifest.write_text(json.dumps(m))
    elif problem == "truncated":
        raw = (path / "a.npy").read_bytes()
        (path / "a.npy").write_bytes(raw[:-8])
    elif problem == "deleted":
        (path / "blob.bin").unlink()
    with pytest.raises(IndexFormatError, match=match):
        read_index(path, "Other" if problem == "other-class" else "Demo")


def test_indexes_of_annann_0_1_are_recognised_and_must_be_rebuilt(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "meta.json").write_text(json.dumps({"format": "annann-cluster-index"}))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "annann.json").write_text(json.dumps({"format": "annann-learned-index"}))
    with open(tmp_path / "g.npz", "wb") as f:
        np.savez(f, header=np.array(json.dumps({"format": "annann.KNNGraphIndex/1"})))
    for name, what in (("c", "ClusterIndex directory"), ("a", "AnnannIndex directory"),
                       ("g.npz", "KNNGraphIndex file")):
        with pytest.raises(IndexFormatError, match=f"{what} .*rebuild the index"):
            read_index(tmp_path / name, "ClusterIndex")


def test_a_foreign_directory_is_never_replaced(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an annann index; refusing to replace"):
        write_demo(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_leftovers_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    """A writer killed midway leaves .<name>.<pid>.tmp (and, between the two renames of a swap,
    .<name>.<pid>.old in place of the target): the next write cleans the first and restores the
    second; entries of a live process are left alone."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    write_demo(tmp_path / "idx")
    (tmp_path / f".idx.{dead}.tmp").mkdir()
    (tmp_path / f".idx.{dead}.tmp" / "a.npy").write_bytes(b"half")
    (tmp_path / f".out.txt.{dead}.tmp").write_text("half")
    live = tmp_path / f".idx.{os.getppid()}.tmp"
    live.mkdir()
    shutil.move(tmp_path / "idx", tmp_path / f".idx.{dead}.old")  # crash between the renames
    clean_stale(tmp_path / "idx")
    assert read_index(tmp_path / "idx", "Demo").state == {"size": 4}  # restored
    assert not (tmp_path / f".idx.{dead}.tmp").exists() and live.exists()
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["idx", "out.txt", live.name])
