"""AnnannIndex on real data: recall vs exact ground truth, TensorFlow-free parent, save/load,
inserts and deletes, refusal of bad input."""

import json
import subprocess
import sys
import textwrap
import numpy as np
import pytest

from annann.core.validation import NotFittedError
from annann.data.evaluation import knn_recall
from annann.ivf.index import ClusterIndex
from annann.learned.index import AnnannIndex
from tests.paths import DATA

TINY = dict(hidden=(64,), code_dim=16, epochs=8, train_sample=5000, max_iter=150,
            update_interval=50, knn_weight=1.0, knn_anchors=1000)

FIT_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from annann import AnnannIndex, read_dataset
    ds = read_dataset(sys.argv[1])
    idx = AnnannIndex(n_clusters=64, seed=3, train=json.loads(sys.argv[3])).fit(ds.train)
    ids, dists = idx.search_batch(ds.test, 10, C=8)
    one, _ = idx.search(ds.test[0], 10, C=8)
    idx.save(sys.argv[2] + "/index")
    np.save(sys.argv[2] + "/ids.npy", ids)
    np.save(sys.argv[2] + "/dists.npy", dists)
    print(json.dumps({"tf_in_parent": "tensorflow" in sys.modules, "single": one.tolist(),
                      "train_log_keys": sorted(idx.train_log),
                      "n_clusters": idx.index.n_clusters_}))
""")


def true_dist(train, Q, ids):
    out = np.full(ids.shape, np.inf)
    ok = ids >= 0
    diff = train[np.where(ok, ids, 0)].astype(np.float64) - Q[:, None, :]
    out[ok] = np.sqrt((diff ** 2).sum(axis=2))[ok]
    return out


@pytest.fixture(scope="module")
def fitted(bigann10k, tmp_path_factory):
    """Fit in a fresh interpreter (so sys.modules shows what fit imported), save, report."""
    work = tmp_path_factory.mktemp("annann")
    tiny = dict(TINY, hidden=list(TINY["hidden"]), progress=False)
    proc = subprocess.run([sys.executable, "-c", FIT_SCRIPT,
                           str(DATA / "bigann-10k-128-euclidean.hdf5"), str(work),
                           json.dumps(tiny)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return work, report


def test_tensorflow_never_imported_by_fit(fitted):
    _, report = fitted
    assert report["tf_in_parent"] is False
    keys = set(report["train_log_keys"])
    assert {"seconds", "stage1", "stage2", "train_rows", "wall_seconds"} <= keys
    assert report["n_clusters"] == 64


def test_save_load_gives_identical_results(fitted, bigann10k):
    work, report = fitted
    idx = AnnannIndex.load(work / "index")
    ids, dists = idx.search_batch(bigann10k.test, 10, C=8)
    np.testing.assert_array_equal(ids, np.load(work / "ids.npy"))
    np.testing.assert_array_equal(dists, np.load(work / "dists.npy"))
    one, _ = idx.search(bigann10k.test[0], 10, C=8)
    assert one.tolist() == report["single"]
    assert idx.encoder.code_dim == 16 and idx.config.knn_weight == 1.0


def test_recall_at_10_reaches_0_9_on_bigann(fitted, bigann10k):
    work, _ = fitted
    idx = AnnannIndex.load(work / "index")
    ds = bigann10k
    recalls = {}
    for C in (4, 8, 16, 32):
        ids, dists = idx.search_batch(ds.test, 10, C=C)
        recalls[C] = knn_recall(ds.distances, true_dist(ds.train, ds.test, ids), 10).mean()
        np.testing.assert_allclose(dists[:, 0], true_dist(ds.train, ds.test, ids)[:, 0], rtol=1e-4)
        assert idx.last_stats["scanned"] > 0
    assert max(recalls.values()) >= 0.9, recalls
    assert recalls[32] >= recalls[4]  # more clusters scanned never hurts much
    assert recalls[4] < 1.0  # approximate: not secretly exhaustive


def test_inserts_deletes_and_updates(fitted, bigann10k):
    work, _ = fitted
    idx = AnnannIndex.load(work / "index")
    n = idx.size
    new = bigann10k.test[:20] + 0.5
    new_ids = np.arange(100000, 100020)
    idx.add(new, new_ids)
    assert idx.size == n + 20
    found, d = idx.search(new[3], 1, C=16)
    assert found[0] == 100003 and d[0] < 1e-3
    idx.remove(new_ids[:10])
    found, _ = idx.search(new[3], 5, C=16)
    assert 100003 not in found.tolist()
    idx.update(new[15:16] + 1000.0, new_ids[15:16])
    found, _ = idx.search(new[15] + 1000.0, 1, C=16)
    assert found[0] == 100015
    with pytest.raises(ValueError):
        idx.remove([100003])  # already deleted
    with pytest.raises(ValueError):
        idx.add(new[:1], [5])  # existing id


def test_bad_input_refused(fitted, tmp_path):
    work, _ = fitted
    idx = AnnannIndex.load(work / "index")
    with pytest.raises(ValueError, match="wrong dimension"):
        idx.search(np.zeros(64, dtype=np.float32), 10)
    q = np.zeros(128, dtype=np.float32)
    q[7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        idx.search(q, 10)
    X = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    X[10, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        AnnannIndex(n_clusters=8, train=dict(progress=False)).fit(X)  # refused before training
    with pytest.raises(ValueError, match="unknown training parameters"):
        AnnannIndex(train={"code_dimension": 8})
    with pytest.raises(ValueError, match="not an annann index"):
        AnnannIndex.load(tmp_path)
    (tmp_path / "index.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="format marker"):
        AnnannIndex.load(tmp_path)
    with pytest.raises(ValueError, match="holds a 'AnnannIndex' index, not a ClusterIndex"):
        ClusterIndex.load(work / "index")
    with pytest.raises(NotFittedError, match="fit"):
        AnnannIndex().search(q, 10)


def test_memory_includes_encoder(fitted):
    work, _ = fitted
    idx = AnnannIndex.load(work / "index")
    mem = idx.memory_bytes()
    assert mem["encoder"] == idx.encoder.nbytes() > 0
    assert mem["total"] >= mem["vectors"] + mem["encoder"]
    assert idx.imbalance()["n_clusters"] == 64


def test_training_is_reproducible_with_a_fixed_seed(fitted, bigann10k):
    """Retraining with the same data, config and seed reproduces the fitted index's encoder and
    DEC centres bit for bit (the index was trained in another process)."""
    from annann.learned.training import TrainConfig, train_encoder

    work, _ = fitted
    idx = AnnannIndex.load(work / "index")
    again = train_encoder(bigann10k.train, TrainConfig(**dict(TINY, n_clusters=64, seed=3,
                                                               progress=False)))
    for a, b in zip(idx.encoder.weights + idx.encoder.biases,
                    again.encoder.weights + again.encoder.biases):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(idx.encoder.mean, again.encoder.mean)
    np.testing.assert_array_equal(idx.index._routing, again.centers)
    log = again.log
    assert log["train_rows"] == 5000 and log["stage2"]["steps"] > 0
    assert log["stage1"]["loss"][-1] < log["stage1"]["loss"][0]
    assert set(log["seconds"]) >= {"stage1", "kmeans_init", "knn_pairs", "stage2"}


@pytest.mark.slow
def test_angular_recall_on_glove(glove12k):
    ds = glove12k
    idx = AnnannIndex("angular", n_clusters=1.0, seed=1,
                      train=dict(TINY, dec=True, progress=False)).fit(ds.train)
    ids, dists = idx.search_batch(ds.test, 10, C=32)
    T = ds.train / np.linalg.norm(ds.train, axis=1, keepdims=True)
    Qn = ds.test / np.linalg.norm(ds.test, axis=1, keepdims=True)
    run = np.where(ids >= 0, 1.0 - np.einsum("mkd,md->mk", T[np.maximum(ids, 0)], Qn), np.inf)
    np.testing.assert_allclose(dists, run, atol=1e-4)
    assert knn_recall(ds.distances, run, 10).mean() >= 0.9
