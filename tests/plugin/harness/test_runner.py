"""End to end: the runner on the embedded real SIFT set, result files checked against the layout."""

import json
import os
import re
import textwrap

import h5py
import numpy as np
import pytest

from ann_benchmarks_plugin.commands.cli import main as cli_main
from ann_benchmarks_plugin.harness.metrics import collect
from ann_benchmarks_plugin.harness.results import is_complete
from ann_benchmarks_plugin.harness.runner import _run_local, run_benchmark
from annann.core.cpus import usable_cpus
from annann.data.datasets import get_dataset

DATASET = "bigann-10k-128-euclidean"

ALGOS = """
float:
  any:
  - name: bruteforce
    module: ann_benchmarks_plugin.algorithms.bruteforce
    constructor: BruteForce
    docker_tag: ann-benchmarks-bruteforce
    base_args: ['@metric']
    run_groups:
      exact:
        args: []
  - name: hnswlib
    module: ann_benchmarks_plugin.algorithms.hnswlib
    constructor: HnswLib
    docker_tag: ann-benchmarks-hnswlib
    base_args: ['@metric']
    run_groups:
      M-8:
        arg_groups: [{M: 8, efConstruction: 50}]
        args: {}
        query_args: [[10, 40]]
  - name: broken
    module: brokenalgo
    constructor: Broken
    docker_tag: ann-benchmarks-broken
    base_args: []
    run_groups:
      one:
        args: [[1]]
"""

BROKEN = """
import json, os, time
from ann_benchmarks_plugin.algorithms.base.module import BaseANN

class Broken(BaseANN):
    def __init__(self, x):
        self.name = "broken"
    def fit(self, X):
        raise RuntimeError("deliberate failure in fit")

class Probe(BaseANN):
    \"\"\"Records where and when its build ran (CPU mask, thread settings, start/end).\"\"\"
    def __init__(self, tag):
        self.tag = tag
        self.name = f"probe({tag})"
    def fit(self, X):
        start = time.time()
        time.sleep(1.0)
        record = {"cpus": sorted(os.sched_getaffinity(0)), "start": start, "end": time.time(),
                  "numba_threads": os.environ.get("NUMBA_NUM_THREADS")}
        with open(f"probe-{self.tag}.json", "w") as fh:
            json.dump(record, fh)
    def query(self, q, n):
        return list(range(n))
"""

PROBE_ENTRY = """
  - name: probe-{tag}
    module: brokenalgo
    constructor: Probe
    docker_tag: ann-benchmarks-probe
    base_args: []
    run_groups:
      one:
        args: [[{tag}]]"""
PROBES = "float:\n  any:" + "".join(PROBE_ENTRY.format(tag=t) for t in "ab") + "\n"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    (tmp_path / "brokenalgo").mkdir()
    (tmp_path / "brokenalgo" / "__init__.py").write_text("")
    (tmp_path / "brokenalgo" / "module.py").write_text(textwrap.dedent(BROKEN))
    (tmp_path / "algos.yaml").write_text(ALGOS)
    (tmp_path / "probes.yaml").write_text(PROBES)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _upstream_name(args):
    return re.sub(r"\W+", "_", json.dumps(args, sort_keys=True)).strip("_") + ".hdf5"


def test_run_writes_harness_layout_and_reports_the_failure(workspace):
    report = run_benchmark(DATASET, runs=2, definitions_path="algos.yaml", results_dir="results",
                           progress=False, capture=True)
    assert len(report.failed) == 1 and "deliberate failure in fit" in report.failed[0][1]
    assert len(report.written) == 3
    base = workspace / "results" / DATASET / "10"
    expected = {base / "bruteforce" / _upstream_name(["euclidean"]),
                base / "hnswlib" / _upstream_name(["euclidean", {"M": 8, "efConstruction": 50}, 10]),
                base / "hnswlib" / _upstream_name(["euclidean", {"M": 8, "efConstruction": 50}, 40])}
    assert {workspace / p for p in report.written} == expected
    ds = get_dataset(DATASET)
    for path in expected:
        with h5py.File(path, "r") as f:
            assert {"algo", "dataset", "name", "distance", "count", "batch_mode", "run_count",
                    "build_time", "index_size", "best_search_time", "candidates",
                    "expect_extra"} <= set(f.attrs)
            assert f.attrs["dataset"] == DATASET and f.attrs["count"] == 10
            assert f.attrs["run_count"] == 2 and not f.attrs["batch_mode"]
            assert f.attrs["distance"] == "euclidean" and f.attrs["best_search_time"] > 0
            assert f["times"].shape == (100,) and f["times"].dtype == np.float32
            assert f["neighbors"].shape == (100, 10) and f["neighbors"].dtype == np.int32
            assert f["distances"].shape == (100, 10) and f["distances"].dtype == np.float32
            ids, dists = f["neighbors"][:], f["distances"][:]
        # recall recomputed independently from ids and the ground truth
        true = np.sqrt(((ds.train[ids].astype(np.float64) - ds.test[:, None]) ** 2).sum(-1))
        np.testing.assert_allclose(dists, true, rtol=1e-5)
        independent = np.mean([(row <= ds.distances[i, 9] + 1e-3).sum() / 10
                               for i, row in enumerate(true)])
        row = [r for r in collect("results", ds).rows if (workspace / r["path"]) == path][0]
        assert row["k-nn"] == pytest.approx(independent)
    names = {r["name"]: r for r in collect("results", ds).rows}
    assert names["bruteforce()"]["k-nn"] == 1.0
    assert names["hnswlib(M=8, efC=50, ef=40)"]["k-nn"] >= 0.9


def test_finished_results_are_skipped_and_interrupted_ones_rerun(workspace):
    kw = dict(algorithms=["hnswlib"], runs=1, definitions_path="algos.yaml", progress=False,
              capture=True)
    first = run_benchmark(DATASET, **kw)
    assert len(first.written) == 2 and first.ok
    again = run_benchmark(DATASET, **kw)
    assert again.written == [] and len(again.skipped) == 1
    victim = first.written[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])  # as left by a run killed mid-write
    assert not is_complete(victim)
    redo = run_benchmark(DATASET, **kw)
    assert redo.written == [victim] and is_complete(victim)
    forced = run_benchmark(DATASET, force=True, **kw)
    assert len(forced.written) == 2


def test_cli_exit_status_and_clear_errors(workspace, capsys):
    assert cli_main(["run", "--dataset", DATASET, "--algorithm", "broken", "--runs", "1",
                     "--quiet"]) == 1
    assert cli_main(["run", "--dataset", "no-such-dataset", "--quiet"]) == 2
    assert "unknown dataset 'no-such-dataset'" in capsys.readouterr().err
    assert cli_main(["run", "--dataset", DATASET, "--algorithm", "nope", "--quiet"]) == 2
    assert "unknown algorithm(s) nope" in capsys.readouterr().err
    assert cli_main(["run", "--dataset", DATASET, "--count", "20000", "--quiet"]) == 2


def test_main_job_produces_plot_and_tables(workspace, capsys):
    """The main job writes under results/local (ignored by git), never over the committed
    results in results/; plot and export refuse to replace a published table."""
    assert cli_main(["run", "--dataset", DATASET, "--algorithm", "bruteforce", "--algorithm",
                     "hnswlib", "--runs", "1", "--plot", "--quiet"]) == 0
    local = workspace / "results" / "local"
    for suffix in (".png", "-build.png", ".csv", ".md"):
        out = local / f"{DATASET}{suffix}"
        assert out.is_file() and out.stat().st_size > 100
    assert sorted(p.name for p in (workspace / "results").iterdir()) == ["local"]
    md = (local / f"{DATASET}.md").read_text()
    assert "| bruteforce | `bruteforce()` | 1.0000 |" in md
    assert cli_main(["export", "--dataset", DATASET]) == 0
    assert cli_main(["plot", "--dataset", DATASET, "--count", "5"]) == 2  # no k=5 results
    published = "## title\n\nProduced by `annann-bench reproduce` on ...\n"
    (local / f"{DATASET}.md").write_text(published)
    capsys.readouterr()
    for cmd in ("plot", "export"):
        assert cli_main([cmd, "--dataset", DATASET]) == 2
        assert "holds published results" in capsys.readouterr().err
    assert (local / f"{DATASET}.md").read_text() == published
    assert cli_main(["export", "--dataset", DATASET, "--force"]) == 0


def test_batch_mode(workspace):
    report = run_benchmark(DATASET, algorithms=["hnswlib"], runs=1, batch=True,
                           definitions_path="algos.yaml", progress=False, capture=True)
    assert report.ok and all("hnswlib-batch" in str(p) for p in report.written)
    with h5py.File(report.written[0], "r") as f:
        assert f.attrs["batch_mode"]


def _probes(workspace):
    return {t: json.loads((workspace / f"probe-{t}.json").read_text()) for t in "ab"}


@pytest.mark.skipif(usable_cpus() < 2, reason="two lanes need two CPUs")
def test_parallel_lanes_run_at_once_each_on_its_own_cpu(workspace):
    report = run_benchmark(DATASET, runs=1, definitions_path="probes.yaml", progress=False,
                           capture=True, parallelism=2)
    assert report.ok and len(report.written) == 2
    a, b = _probes(workspace).values()
    assert len(a["cpus"]) == 1 and len(b["cpus"]) == 1 and a["cpus"] != b["cpus"]
    assert a["numba_threads"] == b["numba_threads"] == "1"
    assert a["start"] < b["end"] and b["start"] < a["end"]  # the two builds overlapped


def test_first_algorithms_start_first_and_serial_runs_are_not_pinned(workspace):
    report = run_benchmark(DATASET, runs=1, definitions_path="probes.yaml", progress=False,
                           capture=True, first=("probe-b",))
    assert report.ok
    a, b = _probes(workspace).values()
    assert b["end"] <= a["start"]
    assert a["cpus"] == sorted(os.sched_getaffinity(0))


def test_bad_parallelism_is_a_clear_error(workspace, capsys):
    kw = dict(definitions_path="probes.yaml", progress=False, capture=True)
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="parallelism must be a positive integer"):
            run_benchmark(DATASET, parallelism=bad, **kw)
    with pytest.raises(ValueError, match=f"parallelism 999 needs as many CPUs; this process may "
                                         f"use {usable_cpus()}"):
        run_benchmark(DATASET, parallelism=999, **kw)
    if usable_cpus() >= 2:
        with pytest.raises(ValueError, match="containers run one at a time"):
            run_benchmark(DATASET, parallelism=2, docker=object(), **kw)
    assert cli_main(["run", "--dataset", DATASET, "--definitions", "probes.yaml",
                     "--parallelism", "999", "--quiet"]) == 2
    assert "parallelism 999 needs as many CPUs" in capsys.readouterr().err


def test_a_child_that_cannot_start_is_reported_not_raised(tmp_path):
    missing = str(tmp_path / "no-such-python")
    message = _run_local([missing, "-c", "pass"], timeout=10, capture=True)
    assert message.startswith(f"cannot start {missing}")
