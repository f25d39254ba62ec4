import importlib.util

import numpy as np
import pytest
from tests.paths import ROOT

SCRIPT = ROOT / "benchmarks" / "bench_cluster_index.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_cluster_index", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pareto_drops_dominated_points(bench):
    pts = [(0.5, 100), (0.6, 120), (0.7, 50), (0.8, 60), (0.9, 10), (0.85, 5)]
    assert bench.pareto(pts) == [(0.6, 120), (0.8, 60), (0.9, 10)]


def test_qps_at_interpolates_on_the_frontier(bench):
    pts = [(0.8, 1000), (0.9, 500), (1.0, 100), (0.85, 50)]
    assert bench.qps_at(pts, 0.85) == pytest.approx(750)
    assert bench.qps_at(pts, 0.95) == pytest.approx(300)
    assert bench.qps_at(pts, 0.5) == 1000
    assert bench.qps_at([(0.8, 1000)], 0.9) is None


def test_true_distances_pads_missing_ids_with_inf(bench):
    train = np.array([[0, 0], [3, 4], [6, 8]], dtype=np.float32)
    Q = np.zeros((1, 2), dtype=np.float32)
    d = bench.true_distances(train, Q, np.array([[1, 2, -1]]))
    np.testing.assert_allclose(d, [[5.0, 10.0, np.inf]])
