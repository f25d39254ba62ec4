import h5py
import numpy as np
import pytest

from ann_benchmarks_plugin.harness.definitions import Definition
from ann_benchmarks_plugin.reporting.export import markdown
from ann_benchmarks_plugin.harness.metrics import MetricTable, collect, result_metrics
from ann_benchmarks_plugin.reporting.plot import plot_build, plot_recall_qps
from ann_benchmarks_plugin.harness.results import result_filename, result_path, store_results
from annann.data.evaluation import epsilon_recall, knn_recall


def test_recall_by_distance_threshold_counts_ties():
    true = np.array([[1.0, 2.0, 3.0]])
    assert knn_recall(true, np.array([[1.0, 3.0005, 3.0]]), 3)[0] == 1.0
    assert knn_recall(true, np.array([[1.0, 3.01, np.inf]]), 3)[0] == pytest.approx(1 / 3)
    assert epsilon_recall(true, np.array([[1.0, 2.0, 3.02]]), 3, 0.01)[0] == 1.0


def test_result_metrics_formulas():
    attrs = {"algo": "x", "name": "x(1)", "count": 2, "best_search_time": 0.002, "run_count": 4,
             "build_time": 3.0, "index_size": 2048.0, "candidates": 2.0, "dist_comps": 800}
    true = np.array([[1.0, 2.0]] * 10)
    run = np.array([[1.0, 2.0]] * 5 + [[1.0, 5.0]] * 5)
    times = np.linspace(0.001, 0.01, 10)
    m = result_metrics(attrs, run, times, true)
    assert m["k-nn"] == pytest.approx(0.75)
    assert m["qps"] == pytest.approx(500.0)
    assert m["distcomps"] == pytest.approx(800 / (4 * 10))
    assert m["p50"] == pytest.approx(np.percentile(times, 50) * 1000)
    assert m["queriessize"] == pytest.approx(2048.0 * 0.002)


def test_pareto_keeps_only_undominated_points():
    rows = [{"algo": "a", "k-nn": r, "qps": q} for r, q in
            [(0.5, 100), (0.6, 50), (0.7, 80), (0.9, 10), (0.8, 5)]]
    front = MetricTable(rows).pareto("a")
    assert [(r["k-nn"], r["qps"]) for r in front] == [(0.5, 100), (0.7, 80), (0.9, 10)]


def test_reads_results_written_the_harness_way_with_a_metrics_cache(tmp_path, bigann10k):
    """A file as the harness writes it (in place, with the metrics group its plot.py adds)."""
    d = Definition("annoy", "Annoy", "m", "t", ["euclidean", 100], [[50]], False)
    path = result_path(tmp_path, bigann10k.name, 10, d, [50])
    assert path.name == result_filename(["euclidean", 100], [50]) == "euclidean_100_50.hdf5"
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        for k, v in {"algo": "annoy", "dataset": bigann10k.name, "name": "Annoy(n_trees=100)",
                     "distance": "euclidean", "count": 10, "batch_mode": False, "run_count": 1,
                     "build_time": 1.0, "index_size": 10.0, "best_search_time": 0.001,
                     "candidates": 10.0, "expect_extra": False}.items():
            f.attrs[k] = v
        f.create_dataset("times", (100,), "f")[:] = 0.001
        f.create_dataset("neighbors", (100, 10), "i")[:] = bigann10k.neighbors[:, :10]
        f.create_dataset("distances", (100, 10), "f")[:] = bigann10k.distances[:, :10]
        f.create_group("metrics").create_group("knn").attrs["mean"] = 1.0
    table = collect(tmp_path, bigann10k)
    assert len(table.rows) == 1 and table.rows[0]["k-nn"] == 1.0 and table.rows[0]["qps"] == 1000
    assert "| annoy | `Annoy(n_trees=100)` | 1.0000 | 1000 |" in markdown(table)
    assert plot_recall_qps(table, tmp_path / "p.png", "t", "logit").stat().st_size > 1000
    assert plot_build(table, tmp_path / "b.png", "t").stat().st_size > 1000


def test_store_results_refuses_incomplete_attrs(tmp_path):
    with pytest.raises(ValueError, match="result attrs missing"):
        store_results(tmp_path / "r.hdf5", {"algo": "a"}, np.zeros((1, 1)), np.zeros((1, 1)),
                      np.zeros(1))
    assert not list(tmp_path.iterdir())
