"""The ann-benchmarks adapter: a thin layer (training itself is covered in test_training.py, so the
encoder here comes from a small in-process stand-in for the training child)."""

import numpy as np
import pytest

import annann.learned.index as annann_index
from annann.learned.encoder import NumpyEncoder
from annann.data.evaluation import knn_recall
from annann.learned.training import TrainResult
from ann_benchmarks_plugin.algorithms.annann.module import Annann


def pca_encoder(X, dim):
    """A linear encoder (top principal directions) standing in for the trained autoencoder."""
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X[:2000] - mean, full_matrices=False)
    return NumpyEncoder(mean, np.ones(X.shape[1]), [Vt[:dim].T], [np.zeros(dim)], ["linear"])


@pytest.fixture
def fake_training(monkeypatch):
    calls = []

    def fake(X, cfg):
        calls.append(cfg)
        return TrainResult(pca_encoder(X, cfg.code_dim), None, {"wall_seconds": 0.0})

    monkeypatch.setattr(annann_index, "train_encoder", fake)
    return calls


def test_adapter_contract_on_bigann(bigann10k, fake_training):
    ds = bigann10k
    algo = Annann("euclidean", {"n_clusters": 1.0, "code_dim": 24, "dec": False, "gamma": 0.1,
                                "knn_weight": 0.0, "rerank": 10, "train_sample": 5000})
    algo.fit(ds.train)
    assert fake_training[0].code_dim == 24 and fake_training[0].train_sample == 5000
    assert algo.index.index.n_clusters_ == 99  # round(1.0 * sqrt(9900))
    algo.set_query_arguments(16)
    assert "C=16" in str(algo) and "code_dim=24" in str(algo) and "dec=False" in str(algo)
    res = [algo.query(q, 10) for q in ds.test]
    assert all(len(r) == 10 and len(set(r.tolist())) == 10 for r in res)
    extra = algo.get_additional()
    # codes scanned per query; full distances (centroid walk and re-rank, rows the bound kept)
    assert extra["scanned_per_query"] > 0 and extra["dist_comps_per_query"] > 0
    assert extra["dist_comps"] == pytest.approx(extra["dist_comps_per_query"] * len(ds.test))
    ids = np.array(res)
    run = np.sqrt(((ds.train[ids].astype(np.float64) - ds.test[:, None, :]) ** 2).sum(axis=2))
    assert knn_recall(ds.distances, run, 10).mean() >= 0.9
    algo.batch_query(ds.test, 10)
    batch = algo.get_batch_results()
    assert [r.tolist() for r in batch] == [r.tolist() for r in res]
    algo.set_query_arguments(1)
    assert algo.get_additional() == {"dist_comps": 0, "dist_comps_per_query": 0.0,
                                     "scanned_per_query": 0.0}


def test_adapter_refuses_unknown_parameters():
    with pytest.raises(ValueError, match="unknown parameters"):
        Annann("euclidean", {"n_clusters": 1.0, "codedim": 8})
    with pytest.raises(ValueError):
        Annann("hamming", {"n_clusters": 1.0})


def test_graph_partition_space_runs_neural_lsh(bigann10k):
    ds = bigann10k
    algo = Annann("euclidean", {"space": "graph-partition", "n_clusters": 0.5, "graph_k": 8,
                                "router_hidden": [32], "router_epochs": 3,
                                "router_sample": 5000})
    algo.fit(ds.train)
    assert algo.index.index.n_clusters_ == 50 and algo.index.n_neighbors == 8
    algo.set_query_arguments(24)
    assert str(algo).startswith("annann-nlsh(") and "C=24" in str(algo)
    ids = np.array([algo.query(q, 10) for q in ds.test])
    run = np.sqrt(((ds.train[ids].astype(np.float64) - ds.test[:, None, :]) ** 2).sum(axis=2))
    assert knn_recall(ds.distances, run, 10).mean() >= 0.9
    assert algo.get_additional()["scanned_per_query"] > 0


@pytest.mark.parametrize("params, match", [
    ({"space": "graph-partition", "code_dim": 8}, "unknown parameters \\['code_dim'\\]"),
    ({"graph_k": 8}, "unknown parameters \\['graph_k'\\]"),
    ({"space": "pca"}, "space must be one of"),
])
def test_adapter_refuses_parameters_of_the_other_space(params, match):
    with pytest.raises(ValueError, match=match):
        Annann("euclidean", params)


def test_learned_stop_space(bigann10k):
    """space learned-stop: the raw-space engine with learned termination, trained in fit; the
    query arguments are the cap C and the target recall."""
    algo = Annann("euclidean", {"space": "learned-stop", "n_clusters": 1.0, "stop_queries": 300})
    algo.fit(bigann10k.train)
    algo.set_query_arguments(64, 0.95)
    assert str(algo) == "annann-stop(n_clusters=1.0, C=64, target=0.95)"
    found = np.array([algo.query(q, 10) for q in bigann10k.test])
    assert np.mean([np.isin(t, f).mean() for f, t in zip(found, bigann10k.neighbors[:, :10])]) \
        >= 0.9
    with pytest.raises(ValueError, match="unknown parameters"):
        Annann("euclidean", {"space": "learned-stop", "code_dim": 8})
    with pytest.raises(ValueError, match="takes at most 1 query arguments"):
        Annann("euclidean", {"n_clusters": 1.0}).set_query_arguments(8, 0.9)


def test_learned_scores_space(bigann10k):
    """space learned-scores: k-means clusters scanned by learned per-cluster scores, trained in
    fit; the query arguments are C, the rows re-ranked and the margin."""
    algo = Annann("euclidean", {"space": "learned-scores", "n_clusters": 1.0, "rank": 32})
    algo.fit(bigann10k.train)
    algo.set_query_arguments(24, 200, 4.0)
    assert str(algo) == "annann-scores(n_clusters=1.0, rank=32, C=24, candidates=200, margin=4.0)"
    found = np.array([algo.query(q, 10) for q in bigann10k.test])
    assert np.mean([np.isin(t, f).mean() for f, t in zip(found, bigann10k.neighbors[:, :10])]) \
        >= 0.95
    algo.batch_query(bigann10k.test[:20], 10)
    np.testing.assert_array_equal(np.array(algo.res), found[:20])
    assert algo.get_additional()["dist_comps"] > 0
    with pytest.raises(ValueError, match="takes at most 3 query arguments"):
        algo.set_query_arguments(8, 100, 2.0, 1)
    with pytest.raises(ValueError, match="unknown parameters"):
        Annann("euclidean", {"space": "learned-scores", "stop_queries": 8})
