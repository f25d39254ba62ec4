"""NeuralLshIndex end to end on real data: recall vs exact ground truth, the logit routing
centres, rows in the router's (or the graph's) parts, save/load, inserts and deletes, refusals."""

import numpy as np
import pytest

from annann.core.index_format import IndexFormatError
from annann.core.validation import NotFittedError
from annann.data.evaluation import knn_recall
from annann.learned.index import AnnannIndex
from annann.learned.neural_lsh import NeuralLshIndex, logit_centres

TINY = dict(hidden=(48,), epochs=4, batch_size=256, train_sample=5000)


def true_dist(train, Q, ids):
    diff = train[ids].astype(np.float64) - Q[:, None, :]
    return np.sqrt((diff ** 2).sum(axis=2))


@pytest.fixture(scope="module")
def fitted(bigann10k):
    return NeuralLshIndex(n_parts=48, n_neighbors=10, seed=2, router=TINY).fit(bigann10k.train)


def recall(ds, index, C, margin=None):
    ids, _ = index.search_batch(ds.test, 10, C=C, margin=margin)
    return knn_recall(ds.distances, true_dist(ds.train, ds.test, ids), 10).mean()


def test_logit_centres_rank_parts_as_the_logits_do():
    rng = np.random.default_rng(0)
    W, b, H = rng.normal(size=(6, 40)), rng.normal(size=40), rng.normal(size=(30, 6))
    centres = logit_centres(W, b).astype(np.float64)
    routed = np.concatenate([H, np.ones((30, 1)), np.zeros((30, 1))], axis=1)
    d = ((routed[:, None, :] - centres[None]) ** 2).sum(axis=2)
    assert np.array_equal(np.argsort(d, axis=1), np.argsort(-(H @ W + b), axis=1))


def test_recall_grows_with_C_to_exact(bigann10k, fitted):
    log = fitted.train_log
    assert log["n_parts"] == 48 and 0 < log["cut_fraction"] < 0.75
    assert log["router_agrees_with_partition"] > 0.3
    sizes = fitted.cluster_sizes()
    assert sizes.sum() == 9900 and (sizes > 0).sum() > 40
    r = [recall(bigann10k, fitted, C) for C in (1, 4, 48)]
    assert r[0] < r[1] < r[2] and r[2] >= 0.99
    assert recall(bigann10k, fitted, 48, margin=np.inf) >= 0.999  # every row read: exact
    assert r[1] > 0.5


def test_rows_live_in_the_routers_part(bigann10k, fitted):
    X = bigann10k.train[:500]
    ids, _ = fitted.search_batch(X, 1, C=1)  # C=1 scans only the router's top part
    assert (ids[:, 0] == np.arange(500)).mean() > 0.98
    single = [fitted.search(x, 1, C=1)[0][0] for x in X[:50]]
    assert single == ids[:50, 0].tolist()


def test_partition_assignment_keeps_graph_parts(bigann10k):
    X = bigann10k.train[:3000]
    idx = NeuralLshIndex(n_parts=16, assign="partition", seed=1, router=TINY).fit(X)
    sizes = idx.cluster_sizes()
    assert sizes.max() <= 1.03 * 3000 / 16 + 1  # the partitioner's balance, not the router's
    ids, _ = idx.search_batch(X[:200], 1, C=16)  # every part scanned: exact
    assert ids[:, 0].tolist() == list(range(200))
    top, _ = idx.search_batch(X[:200], 1, C=1)
    assert 0.3 < (top[:, 0] == np.arange(200)).mean() < 1.0  # graph parts != router parts


def test_save_load_and_updates(bigann10k, fitted, tmp_path):
    ds = bigann10k
    fitted.save(tmp_path / "nlsh")
    back = NeuralLshIndex.load(tmp_path / "nlsh")
    a, da = fitted.search_batch(ds.test, 10, C=6)
    b, db = back.search_batch(ds.test, 10, C=6)
    assert np.array_equal(a, b) and np.allclose(da, db)
    assert back.partitioner == "metis" and back.config.hidden == (48,)
    with pytest.raises(IndexFormatError):
        AnnannIndex.load(tmp_path / "nlsh")  # a different kind of index
    new = ds.test[:5] + 0.5
    back.add(new, np.arange(20000, 20005))
    ids, _ = back.search_batch(new, 1, C=1)
    assert ids[:, 0].tolist() == list(range(20000, 20005))  # inserted where the router sends it
    back.remove([20000, 20001])
    ids, _ = back.search_batch(new[:2], 1, C=48)
    assert 20000 not in ids and 20001 not in ids
    with pytest.raises(ValueError, match="unknown ids"):
        back.remove([123456])


@pytest.mark.parametrize("kwargs, match", [
    ({"assign": "nearest"}, "assign"), ({"partitioner": "scotch"}, "partitioner"),
    ({"imbalance": 2.0}, "imbalance"), ({"router": {"depth": 3}}, "unknown router"),
    ({"router": {"epochs": 0}}, "epochs"), ({"n_parts": -1}, "n_clusters|n_parts"),
])
def test_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuralLshIndex(**kwargs)


def test_refuses_bad_data_and_unfitted_use(bigann10k):
    with pytest.raises(ValueError, match="n_neighbors=30 must be smaller"):
        NeuralLshIndex(n_parts=4, n_neighbors=30).fit(bigann10k.train[:20])
    bad = bigann10k.train[:100].copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        NeuralLshIndex(n_parts=4).fit(bad)
    with pytest.raises(NotFittedError):
        NeuralLshIndex().search(bigann10k.test[0], 10)


def test_angular_data_on_glove(glove12k):
    ds = glove12k
    idx = NeuralLshIndex("angular", n_parts=32, seed=0, router=TINY).fit(ds.train)
    ids, dists = idx.search_batch(ds.test, 10, C=32, margin=np.inf)  # every part: exact
    d = 1 - (ds.train[ids] @ ds.test[:, :, None])[..., 0] / (
        np.linalg.norm(ds.train[ids], axis=2) * np.linalg.norm(ds.test, axis=1)[:, None])
    np.testing.assert_allclose(dists, d, atol=1e-4)
    assert knn_recall(ds.distances, d, 10).mean() >= 0.999
    part, _ = idx.search_batch(ds.test, 10, C=8)
    assert 0.5 < np.isin(part, ids).mean() < 1.0
