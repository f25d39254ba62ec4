"""benchmarks/ is a package run as ``python -m benchmarks.<script>``: every module imports without
path tricks, none reads an HDF5 file by hand (``benchmarks.common.load_data`` reads through
``read_dataset``), and a cheap script runs end to end on the embedded 10k set."""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.paths import DATA, ROOT

MODULES = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")
FORBIDDEN = ("sys.path", "noqa: E402", "h5py.File")


def test_the_package_lists_every_script():
    doc = importlib.import_module("benchmarks").__doc__
    scripts = [m for m in MODULES if m != "common"]
    assert len(scripts) >= 12
    assert all(f"``{m}``" in doc for m in scripts), [m for m in scripts if f"``{m}``" not in doc]


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports_and_has_no_path_tricks_or_hand_reads(name):
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.__doc__ and module.__doc__.strip()
    text = (ROOT / "benchmarks" / f"{name}.py").read_text()
    assert not [s for s in FORBIDDEN if s in text], name
    if name != "common":  # the usage lines say how it runs now
        assert f"python -m benchmarks.{name}" in text
        assert f"python benchmarks/{name}.py" not in text


def test_data_path_finds_names_paths_and_says_where_it_looked(tmp_path, monkeypatch):
    from annann.data.datasets import DatasetError
    from benchmarks import common

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANNANN_DATA_PATH", raising=False)
    embedded = DATA / "glove-twitter-12k-25-angular.hdf5"
    assert common.data_path("glove-twitter-12k-25-angular") == embedded
    assert common.data_path(str(embedded)) == embedded
    with pytest.raises(DatasetError, match="no-such-set.*looked in.*shared"):
        common.data_path("no-such-set")
    with pytest.raises(DatasetError, match="no such file"):
        common.data_path(str(tmp_path / "missing.hdf5"))


def test_load_data_cuts_queries_and_rows_with_exact_truth(bigann10k):
    from annann.data.groundtruth import exact_knn
    from benchmarks.common import load_data

    X, Q, ids, d, metric = load_data("bigann-10k-128-euclidean", queries=7)
    assert metric == "euclidean" and X.shape == (9900, 128) and Q.shape == (7, 128)
    np.testing.assert_array_equal(d, bigann10k.distances[:7])
    X, Q, ids, d, _ = load_data("bigann-10k-128-euclidean", queries=5, rows=2000, k=10)
    assert X.shape == (2000, 128) and X.flags.c_contiguous and ids.shape == d.shape == (5, 10)
    np.testing.assert_allclose(d, exact_knn(bigann10k.train[:2000], Q, 10)[1])
    X, Q, ids, d, _ = load_data("bigann-10k-128-euclidean", rows=100, truth=False)
    assert X.shape == (100, 128) and ids is None and d is None


def test_frontier_timing_and_recall_helpers():
    from benchmarks.common import best_of, fmt_range, frontier, pareto_at, recall_of, time_queries

    assert frontier([(0.5, 100), (0.6, 120), (0.9, 10), (0.85, 5)]) == [(0.6, 120), (0.9, 10)]
    assert pareto_at([(0.8, 1000), (1.0, 100)], 0.9) == pytest.approx(550)
    assert fmt_range([None, 3.0, 5.0], ".1f") == "3.0-5.0" and fmt_range([None]) == "not reached"
    X = np.eye(4, dtype=np.float32)
    secs, ids = time_queries(lambda q: [int(np.argmax(q)), -1], X, runs=2, k=3)
    assert secs > 0 and ids.tolist() == [[i, -1, -1] for i in range(4)]
    true_d = np.zeros((4, 1))
    assert recall_of(X, X, true_d, ids, k=1) == 1.0
    assert len(best_of([lambda: None, lambda: None], 2)) == 2


def test_a_script_runs_end_to_end_as_a_module_on_the_embedded_set(tmp_path):
    """profile_ivf_query, small settings: builds and saves a 64-list index, profiles 50 queries."""
    out = tmp_path / "out" / "profile"
    env = {k: v for k, v in os.environ.items() if k != "ANNANN_DATA_PATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-m", "benchmarks.profile_ivf_query",
                           "--data", "bigann-10k-128-euclidean", "--index", str(tmp_path / "ivf"),
                           "--lists", "64", "--queries", "50", "--C", "4,16", "--runs", "1",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["C"] for r in rows] == [4, 16] and all(r["total_us"] > 0 for r in rows)
    md = out.with_suffix(".md").read_text()
    assert "50 queries of bigann-10k-128-euclidean.hdf5, 64 lists" in md
    assert "`python -m benchmarks.profile_ivf_query --data bigann-10k-128-euclidean" in md
    assert (tmp_path / "ivf").is_dir()  # the index was built and saved
