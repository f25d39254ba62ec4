"""Workers that die with their parent: the parent-death signal, and the check for a parent that
died before the worker could register it."""

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

from annann.core.procs import ORPHAN_EXIT, PARENT_ENV, child_env

LEVEL = """
import subprocess, sys, time
from annann.core.procs import child_env, die_with_parent
if len(sys.argv) > 2:  # a worker: register first
    die_with_parent()
if int(sys.argv[1]) > 0:
    subprocess.Popen([sys.executable, __file__, str(int(sys.argv[1]) - 1), "worker"],
                     env=child_env())
print("started", flush=True)
time.sleep(60)
"""


def alive_with(marker):
    """Pids of live (not zombie) processes whose environment holds the marker."""
    pids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and f"MARK={marker}".encode() in (d / "environ").read_bytes() \
                    and (d / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def test_a_chain_of_workers_dies_with_its_killed_root(tmp_path):
    """root -> worker -> worker: SIGKILL the root, and both workers follow within a second."""
    script = tmp_path / "level.py"
    script.write_text(textwrap.dedent(LEVEL))
    marker = uuid.uuid4().hex
    root = subprocess.Popen([sys.executable, str(script), "2"], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, MARK=marker))
    assert root.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 30
    while len(alive_with(marker)) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    root.kill()
    root.wait()
    root.stdout.close()
    deadline = time.monotonic() + 1.0
    while alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert alive_with(marker) == []  # unregistered, the workers would sleep on for a minute


def test_a_worker_whose_parent_is_already_gone_exits():
    env = child_env()
    assert env[PARENT_ENV] == str(os.getpid())
    env[PARENT_ENV] = "999999999"  # not our parent: it died before the worker registered
    code = "from annann.core.procs import die_with_parent; die_with_parent(); print('ran')"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == ORPHAN_EXIT and proc.stdout == ""
    assert "parent process 999999999 is gone" in proc.stderr
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout == "ran\n"
