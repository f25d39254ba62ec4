"""Leftovers of killed writers: which entries are stale (the writer is dead, or a zombie), and
clean_stale_in for a whole folder."""

import os
import subprocess
import sys
import time

from annann.core.atomic import _pid_alive, clean_stale, clean_stale_in


def dead_pid():
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_zombie_writer_counts_as_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while _pid_alive(proc.pid):  # exited but not reaped: a zombie
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert os.path.exists(f"/proc/{proc.pid}")  # still in the process table
    proc.wait()
    assert _pid_alive(os.getpid()) and not _pid_alive(proc.pid)


def test_clean_stale_in_handles_every_target_of_a_folder(tmp_path):
    dead = dead_pid()
    (tmp_path / f".a.hdf5.{dead}.tmp").write_text("half")
    (tmp_path / f".b[1].hdf5.{dead}.tmp").write_text("half")  # glob characters in the name
    (tmp_path / f".idx.{dead}.old").mkdir()  # a swap died between its two renames
    (tmp_path / f".idx.{dead}.tmp").mkdir()
    live = tmp_path / f".c.hdf5.{os.getpid()}.tmp"
    live.write_text("being written")
    (tmp_path / ".not-ours.tmp").write_text("x")
    removed = clean_stale_in(tmp_path)
    assert len(removed) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, ".not-ours.tmp", "idx"]
    (tmp_path / f".b[1].hdf5.{dead}.tmp").write_text("half")
    assert [p.name for p in clean_stale(tmp_path / "b[1].hdf5")] == [f".b[1].hdf5.{dead}.tmp"]
    assert clean_stale_in(tmp_path / "missing") == []
