"""The distributed build on a cluster started from the command line, as a user would on several
machines: ``dask scheduler`` and two ``dask worker`` processes (no nanny, so a killed worker stays
dead), ``annann-bench build-graph --scheduler tcp://...`` pointed at it, one worker killed with
SIGKILL while a round runs; the build must finish on the other worker and the graph must keep
its recall against the exact graph (real data: bigann-10k, its HDF5 file read in place).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from annann.distributed.checkpoint import read_manifest
from annann.distributed.graph_file import read_graph
from annann.graph.index import KNNGraphIndex
from annann.graph.quality import GraphRecallProbe
from tests.paths import DATA

DASK = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
BENCH = shutil.which("annann-bench", path=os.path.dirname(sys.executable))


def _wait_for(predicate, timeout, what, procs=()):
    deadline = time.time() + timeout
    while not predicate():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: process {p.args[:3]} exited with {p.returncode}")
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-thread worker processes started with the dask CLI."""
    if DASK is None:
        pytest.fail("the dask command is missing (pip install 'annann[dist]')")
    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    log = open(tmp_path / "cluster.log", "w")
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--dashboard-address", ":0", "--scheduler-file", str(sched_file)],
                              stdout=log, stderr=subprocess.STDOUT, env=env)]
    try:
        _wait_for(sched_file.exists, 60, "the scheduler file", procs)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1",
                                           "--no-nanny", "--memory-limit", "1GB",
                                           "--local-directory", str(tmp_path / "dask")],
                                          stdout=log, stderr=subprocess.STDOUT, env=env))
        from distributed import Client

        with Client(address, timeout=60) as c:
            c.wait_for_workers(2, timeout=60)
        yield address, procs[1:]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def test_cli_build_on_a_command_line_cluster_survives_a_killed_worker(cluster, tmp_path):
    address, workers = cluster
    data = DATA / "bigann-10k-128-euclidean.hdf5"
    out = tmp_path / "graph"
    build = subprocess.Popen([BENCH, "build-graph", "--input", str(data), "--output", str(out),
                              "--k", "10", "--scheduler", address, "--partition-size", "2600",
                              "--chunk-rows", "2000", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpt = tmp_path / "graph.ckpt"
    _wait_for(lambda: (read_manifest(ckpt) or {}).get("round", -1) >= 0, 120,
              "round 0's checkpoint", [build])
    killed_in_round = read_manifest(ckpt)["round"] + 1
    os.kill(workers[0].pid, signal.SIGKILL)
    assert build.poll() is None, "the build ended before the worker was killed"
    text, _ = build.communicate(timeout=300)
    assert build.returncode == 0, text
    assert "wrote" in text and workers[0].wait(5) == -signal.SIGKILL
    ids, sq, attrs = read_graph(out)
    assert attrs["stats"]["last_round"] >= killed_in_round
    assert attrs["input"]["kind"] == "hdf5" and attrs["stats"]["input_kind"] == "hdf5"
    X = np.asarray(__import__("h5py").File(data, "r")["train"][:], dtype=np.float32)
    assert ids.shape == (X.shape[0], 10) and np.all(np.diff(sq, axis=1) >= 0)
    probe = GraphRecallProbe(X, 10, 1000, "euclidean", seed=0)
    single = KNNGraphIndex(n_neighbors=10, seed=0).fit(X)
    r_dist, r_single = probe.recall(ids), probe.recall(single.neighbor_graph[0])
    assert r_dist >= 0.95 and r_dist >= r_single - 0.01, (r_dist, r_single)
