
import numpy as np
import pytest
import yaml

from ann_benchmarks_plugin.algorithms.annann_raw.module import AnnannRaw
from ann_benchmarks_plugin.harness.definitions import definitions_for_entry
from annann.data.evaluation import knn_recall
from annann.data.groundtruth import exact_knn
from tests.paths import ROOT


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_adapter_contract(metric):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2500, 16)).astype(np.float32)
    Q = rng.standard_normal((30, 16)).astype(np.float32)
    X_before = X.copy()
    algo = AnnannRaw(metric, {"n_clusters": 1.0, "r": 4, "M": 8, "efConstruction": 50,
                              "quantizer": "rabitq"})  # "auto" would read rows in 16-d
    assert str(algo) == "annann-raw(n_clusters=1.0, C=10, r=4)"
    algo.fit(X)
    np.testing.assert_array_equal(X, X_before)  # fit must not modify X
    assert algo._index.n_clusters_ == 50  # 1.0 x sqrt(2500)
    algo.set_query_arguments(50, 1)
    assert str(algo) == "annann-raw(n_clusters=50, C=50, r=1)"
    algo.set_query_arguments(50, 1, float("inf"))  # every member re-ranked: exact
    assert str(algo) == "annann-raw(n_clusters=50, C=50, r=1, margin=inf)"
    gt_i, gt_d = exact_knn(X, Q, 10, metric)
    for t, q in enumerate(Q):
        ids = algo.query(q, 10)
        assert ids.ndim == 1 and len(set(ids.tolist())) == len(ids) == 10
        np.testing.assert_array_equal(ids, gt_i[t])  # C = all clusters: exact
    extra = algo.get_additional()
    assert extra["scanned_per_query"] == 2500 and extra["dist_comps"] >= 30 * 2500
    algo.set_query_arguments(3)
    assert algo.get_additional()["dist_comps"] == 0  # reset per query-argument group
    algo.batch_query(Q, 10)
    res = algo.get_batch_results()
    assert len(res) == 30 and all((r >= 0).all() for r in res)
    assert 0 < algo.get_additional()["scanned_per_query"] < 2500


def test_adapter_recall_on_real_data(bigann10k):
    algo = AnnannRaw("euclidean", {"n_clusters": 1.0})
    algo.fit(bigann10k.train)
    algo.set_query_arguments(20)
    found = np.array([algo.query(q, 10) for q in bigann10k.test])
    true = np.sqrt(((bigann10k.train[found].astype(np.float64)
                     - bigann10k.test[:, None, :]) ** 2).sum(axis=2))
    assert knn_recall(bigann10k.distances, true, 10).mean() >= 0.95


def test_adapter_rejects_unknown_parameters():
    with pytest.raises(ValueError, match="unknown parameters"):
        AnnannRaw("euclidean", {"n_clusters": 4, "nprobe": 3})
    with pytest.raises(ValueError, match="C"):
        AnnannRaw("euclidean").set_query_arguments(0)
    with pytest.raises(ValueError, match="margin"):
        AnnannRaw("euclidean").set_query_arguments(5, 1, -1.0)


def test_exact_scan_variant(bigann10k):
    """quantizer "none": every member row read; the same answers as the coded scan with an
    infinite margin."""
    rows = AnnannRaw("euclidean", {"n_clusters": 1.0, "quantizer": "none"})
    coded = AnnannRaw("euclidean", {"n_clusters": 1.0})
    for algo in (rows, coded):
        algo.fit(bigann10k.train)
    rows.set_query_arguments(8)
    coded.set_query_arguments(8, None, float("inf"))
    assert "rows" in str(rows)
    for q in bigann10k.test[:20]:
        np.testing.assert_array_equal(rows.query(q, 10), coded.query(q, 10))


def test_algos_yaml_entry():
    with open(ROOT / "algos.yaml") as f:
        config = yaml.safe_load(f)
    entry = next(e for e in config["float"]["any"] if e["name"] == "annann-raw")
    assert entry["module"] == "ann_benchmarks_plugin.algorithms.annann_raw"
    assert entry["constructor"] == "AnnannRaw"
    assert entry["docker_tag"] == "ann-benchmarks-annann_raw"
    defs = definitions_for_entry("annann-raw", entry, 128, "angular", 10)
    assert sorted(d.arguments[1]["n_clusters"] for d in defs) == [1.0, 4.0, 4.0]
    assert sorted(d.arguments[1].get("quantizer", "auto") for d in defs) == [
        "auto", "auto", "none"]
    for d in defs:
        algo = AnnannRaw(*d.arguments)  # every grid point constructs
        assert d.arguments[0] == "angular" and d.arguments[1]["r"] == 1
        ladder = [q[0] for q in d.query_argument_groups]
        assert ladder == sorted(ladder) and 1 <= ladder[0] and ladder[-1] <= 800
        # steps of at most x1.5 from 4 on, so no ratio hangs on one coarse grid point
        assert all(b / a <= 1.5 for a, b in zip(ladder, ladder[1:]) if a >= 4)
        for query_args in d.query_argument_groups:
            algo.set_query_arguments(*query_args)


def test_auto_quantizer_reads_rows_below_64_dimensions():
    rng = np.random.default_rng(1)
    for d, suffix in ((16, ", rows"), (64, "")):
        algo = AnnannRaw("euclidean", {"n_clusters": 8})
        algo.fit(rng.standard_normal((400, d)).astype(np.float32))
        algo.set_query_arguments(2)
        assert str(algo) == f"annann-raw(n_clusters=8, C=2, r=10{suffix})"
        assert algo._index.coded == (d >= 64)
