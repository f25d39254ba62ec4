"""ClusterIndex on real data: recall against brute force, dynamic updates, save/load, disk mode,
errors."""

import json

import numpy as np
import pytest

from annann.core.distances import distances
from annann.core.validation import NotFittedError
from annann.data.evaluation import knn_recall
from annann.data.groundtruth import exact_knn
from annann.graph.index import KNNGraphIndex
from annann.ivf.index import ClusterIndex


def returned_true_distances(train, Q, ids, metric):
    """Exact distances of the returned ids (padded -1 -> inf), as the harness recomputes them."""
    out = np.full(ids.shape, np.inf)
    for t, (q, row) in enumerate(zip(Q, ids)):
        ok = row >= 0
        out[t, ok] = distances(q, train[row[ok]], metric)
    return out


def recall_of(index, ds, C, train=None, gt_d=None):
    train = ds.train if train is None else train
    gt_d = ds.distances if gt_d is None else gt_d
    ids, _ = index.search_batch(ds.test, 10, C=C)
    return float(knn_recall(gt_d, returned_true_distances(train, ds.test, ids, ds.distance),
                            10).mean())


@pytest.fixture(scope="module")
def bigann_index(bigann10k):
    return ClusterIndex("euclidean", n_clusters=1.0, seed=0).fit(bigann10k.train)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((600, 12)).astype(np.float32)
    Q = rng.standard_normal((20, 12)).astype(np.float32)
    return X, Q


def test_recall_bigann_against_ground_truth(bigann10k, bigann_index):
    assert bigann_index.n_clusters_ == 99  # round(sqrt(9900))
    recalls = {C: recall_of(bigann_index, bigann10k, C) for C in (1, 5, 10, 20)}
    assert recalls[20] >= 0.95, recalls
    assert recalls[1] < recalls[5] < recalls[10] <= recalls[20]


def test_recall_glove_angular_against_ground_truth(glove12k):
    index = ClusterIndex("angular", n_clusters=1.0, seed=0).fit(glove12k.train)
    recalls = {C: recall_of(index, glove12k, C) for C in (2, 10)}
    assert recalls[10] >= 0.9, recalls
    ids, dist = index.search(glove12k.test[0], 10, C=10)
    np.testing.assert_allclose(dist, distances(glove12k.test[0], glove12k.train[ids], "angular"),
                               atol=1e-5)


def test_scanning_every_cluster_is_exact(small):
    X, Q = small
    for metric in ("euclidean", "angular"):
        index = ClusterIndex(metric, n_clusters=16, seed=1).fit(X)
        ids, dist = index.search_batch(Q, 7, C=16)
        gt_i, gt_d = exact_knn(X, Q, 7, metric)
        np.testing.assert_array_equal(ids, gt_i)
        np.testing.assert_allclose(dist, gt_d, atol=1e-5)
        assert index.last_stats["scanned"] == len(Q) * len(X)


def test_search_matches_search_batch_and_reports_stats(bigann10k, bigann_index):
    Q = bigann10k.test[:10]
    bi, bd = bigann_index.search_batch(Q, 10, C=3)
    for t, q in enumerate(Q):
        i, d = bigann_index.search(q, 10, C=3)
        np.testing.assert_array_equal(i, bi[t, :len(i)])
        np.testing.assert_allclose(d, bd[t, :len(d)])
        np.testing.assert_allclose(d, distances(q, bigann10k.train[i], "euclidean"), rtol=1e-4)
        assert (np.diff(d) >= 0).all()
        stats = bigann_index.last_stats
        # the codes of every member scanned, exact distances for a few of them; beyond those,
        # the centroid walk (at least the ef = 32 pool) and the re-rank of the r * C = 30
        # candidates, never more than every centroid twice
        assert 10 <= stats["exact"] < stats["scanned"]
        assert 32 + 30 <= stats["dist_comps"] - stats["exact"] <= 200


def codes_now(index):
    """The codes and factors every stored row should carry: its rotated residual from its
    cluster's code centre, encoded afresh with the centre folded in."""
    from annann.core.rabitq import encode_against
    from annann.ivf.store import concat_ranges

    s = index._store
    rows = concat_ranges(s.starts, s.counts)
    labels = np.repeat(np.arange(index.n_clusters_), s.counts)
    centres = index._code_centres[labels]
    fresh = encode_against(index._rotation.rows(np.asarray(s.vectors[rows])) - centres, centres)
    return rows, fresh


def test_coded_scan_reranks_exactly_what_its_bound_keeps(bigann10k, bigann_index):
    """With an infinite margin every member of the scanned clusters is re-ranked: the answers are
    the exact scan's. With the default margin, every returned distance is exact and the answers
    are the exact k nearest among the rows the bound kept; recall stays within 0.01 of the exact
    scan's, while far fewer rows are read."""
    Q = bigann10k.test
    exact = ClusterIndex("euclidean", n_clusters=1.0, seed=0, quantizer="none").fit(
        bigann10k.train)
    for C in (1, 4, 12):
        ei, ed = exact.search_batch(Q, 10, C=C)
        ci, cd = bigann_index.search_batch(Q, 10, C=C, margin=np.inf)
        np.testing.assert_array_equal(ci, ei)
        np.testing.assert_allclose(cd, ed, rtol=1e-6)
        assert bigann_index.last_stats["exact"] == bigann_index.last_stats["scanned"]
        di, dd = bigann_index.search_batch(Q, 10, C=C)
        assert bigann_index.last_stats["exact"] < 0.5 * bigann_index.last_stats["scanned"]
        np.testing.assert_allclose(dd, returned_true_distances(bigann10k.train, Q, di,
                                                               "euclidean"), rtol=1e-4)
        kept = np.isin(di, ei) | (dd >= ed[:, -1:] - 1e-3)  # never a wrong order among kept
        assert kept.all()
        gt = bigann10k.distances
        r_exact = knn_recall(gt, returned_true_distances(bigann10k.train, Q, ei, "euclidean"),
                             10).mean()
        r_coded = knn_recall(gt, returned_true_distances(bigann10k.train, Q, di, "euclidean"),
                             10).mean()
        assert r_coded >= r_exact - 0.01, (C, r_coded, r_exact)
    with pytest.raises(ValueError, match="margin"):
        bigann_index.search(Q[0], 10, C=2, margin=-1)
    with pytest.raises(ValueError, match="quantizer"):
        ClusterIndex(quantizer="pq")


def test_codes_follow_their_rows_through_inserts_and_deletes(bigann10k):
    """New rows are coded against their cluster's fixed code centre; after inserts that move
    clusters, deletes that squeeze them, and a save/load, every row still carries its own code."""
    X = bigann10k.train
    index = ClusterIndex(n_clusters=50, seed=0).fit(X[:5000], ids=np.arange(5000))
    centres = index._code_centres.copy()
    index.add(X[5000:9000], np.arange(5000, 9000))
    index.remove(np.arange(0, 9000, 3))
    index.update(X[9000:9010], [1, 2, 4, 5, 7, 8, 10, 11, 13, 14])
    np.testing.assert_array_equal(index._code_centres, centres)  # the quantizer stays trained
    rows, (codes, factors) = codes_now(index)
    np.testing.assert_array_equal(index._store.columns["codes"][:, rows], codes)
    np.testing.assert_allclose(index._store.columns["factors"][:, rows], factors, rtol=1e-5)
    i, d = index.search(X[9003], 1, C=5)
    assert i[0] == 5 and d[0] < 1e-3


def test_index_written_before_codes_loads_with_the_exact_scan(tmp_path, small):
    """An index directory without the quantizer parameter (written before the codes) loads as an
    exact-scan index."""
    X, Q = small
    index = ClusterIndex(n_clusters=6, seed=0, quantizer="none").fit(X)
    index.save(tmp_path / "old")
    manifest = json.loads((tmp_path / "old" / "index.json").read_text())
    del manifest["params"]["quantizer"]
    (tmp_path / "old" / "index.json").write_text(json.dumps(manifest))
    back = ClusterIndex.load(tmp_path / "old")
    assert back.quantizer == "none"
    np.testing.assert_array_equal(back.search_batch(Q, 5, C=3)[0], index.search_batch(Q, 5, C=3)[0])


def test_fewer_than_k_results_are_padded(small):
    X, Q = small
    index = ClusterIndex(n_clusters=60, seed=0).fit(X)
    ids, dist = index.search_batch(Q, 50, C=1)
    short = ids[0] < 0
    assert short.any()
    assert np.isinf(dist[0][short]).all() and np.isfinite(dist[0][~short]).all()
    i, d = index.search(Q[0], 50, C=1)
    assert len(i) == len(d) == int((~short).sum())


def test_dynamic_add_remove_keeps_recall_of_fresh_build(bigann10k):
    X, Q = bigann10k.train, bigann10k.test
    n = X.shape[0]
    rng = np.random.default_rng(11)
    order = rng.permutation(n)
    first, second = order[: n // 2], order[n // 2:]
    dyn = ClusterIndex(n_clusters=100, seed=0).fit(X[first], ids=first)
    dyn.add(X[second], second)
    assert dyn.size == n
    removed = rng.choice(n, size=n // 4, replace=False)
    dyn.remove(removed)
    active = np.setdiff1d(np.arange(n), removed)
    assert dyn.size == active.shape[0]
    fresh = ClusterIndex(n_clusters=100, seed=0).fit(X[active], ids=active)
    # 100 test queries plus 400 removed vectors (same distribution, not in the active set) make
    # the comparison precise enough for a 0.02 margin
    Q = np.concatenate([Q, X[removed[:400]]])
    gt_d = exact_knn(X[active], Q, 10)[1]
    for C in (5, 10):
        got = {}
        for name, index in (("dyn", dyn), ("fresh", fresh)):
            ids, _ = index.search_batch(Q, 10, C=C)
            assert not np.isin(ids, removed).any()
            got[name] = knn_recall(gt_d, returned_true_distances(X, Q, ids, "euclidean"), 10).mean()
        assert got["dyn"] >= got["fresh"] - 0.02, (C, got)
    # incremental centroids equal the exact member means
    before = dyn._centroids.copy()
    dyn.refresh_centroids()
    np.testing.assert_allclose(before, dyn._centroids, atol=1e-3)


def test_update_moves_vectors(small):
    X, _ = small
    index = ClusterIndex(n_clusters=8, seed=0).fit(X, ids=np.arange(600) + 100)
    new = X[:3] + 5.0
    index.update(new, [100, 101, 102])
    assert index.size == 600
    for t, v in enumerate(new):
        ids, dist = index.search(v, 1, C=8)
        assert ids[0] == 100 + t and dist[0] < 1e-5


def test_transform_and_given_centers(small):
    X, Q = small
    rng = np.random.default_rng(0)
    P = rng.standard_normal((12, 6)).astype(np.float32)
    calls = []

    def project(A):
        calls.append(A.shape)
        return A @ P

    index = ClusterIndex(n_clusters=10, seed=0).fit(X, transform=project)
    assert index.embed_dim == 6 and index._routing.shape == (10, 6)
    ids, _ = index.search(Q[0], 5, C=10)
    assert len(ids) == 5 and calls[-1] == (1, 12)
    np.testing.assert_array_equal(ids, exact_knn(X, Q[:1], 5)[0][0])
    centres = (X[:4] @ P)
    fixed = ClusterIndex(n_clusters=99, seed=0).fit(X, transform=project, centers=centres)
    assert fixed.n_clusters_ == 4
    labels = np.argmin((((X @ P)[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_array_equal(fixed.cluster_sizes(), np.bincount(labels, minlength=4))
    with pytest.raises(ValueError, match="transform output"):
        ClusterIndex(n_clusters=4).fit(X, transform=lambda A: A[:, :1][:-1])
    with pytest.raises(ValueError, match="centers: wrong dimension"):
        ClusterIndex(n_clusters=4).fit(X, transform=project, centers=X[:4])


def test_given_labels_and_exact_routing(bigann10k, bigann_index, tmp_path):
    X = bigann10k.train
    centres = bigann_index._routing
    labels = np.arange(X.shape[0]) % centres.shape[0]  # any assignment the caller chooses
    fixed = ClusterIndex(n_clusters=1.0, route="exact").fit(X, centers=centres, labels=labels)
    np.testing.assert_array_equal(fixed.cluster_sizes(), np.bincount(labels))
    exact = ClusterIndex(n_clusters=1.0, seed=0, route="exact").fit(X)
    assert recall_of(exact, bigann10k, 8) >= recall_of(bigann_index, bigann10k, 8) - 0.005
    exact.save(tmp_path / "exact")
    back = ClusterIndex.load(tmp_path / "exact")
    assert back.route == "exact" and back._graph.exact
    a, _ = exact.search_batch(bigann10k.test, 10, C=4)
    b, _ = back.search_batch(bigann10k.test, 10, C=4)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="labels: expected 9900 cluster numbers"):
        ClusterIndex().fit(X, centers=centres, labels=labels + 1)
    with pytest.raises(ValueError, match="route"):
        ClusterIndex(route="flat")


def test_imbalance_and_memory(bigann_index):
    sizes = bigann_index.cluster_sizes()
    assert sizes.sum() == bigann_index.size == 9900
    imb = bigann_index.imbalance()
    assert imb["max"] == sizes.max() and imb["empty"] == int((sizes == 0).sum())
    assert imb["max_over_mean"] == pytest.approx(sizes.max() / sizes.mean())
    mem = bigann_index.memory_bytes()
    assert mem["vectors"] == 9900 * 128 * 4
    assert mem["total"] == mem["ram"] and mem["disk"] == 0
    assert mem["hnsw"] >= 99 * 32 * 4  # bottom-layer neighbour slots of 99 centres (M0 = 32)
    # routing centres, member-mean centroids, code centres, the rotation's signs
    assert mem["centroids"] == 3 * 99 * 128 * 4 + 2 * 128 * 4
    assert mem["codes"] == 9900 * (128 // 8 + 3 * 4)  # a bit per dimension, three factors
    assert (mem["total"] - mem["vectors"]) / mem["vectors"] < 0.2


def test_save_load_round_trip_and_disk_mode(tmp_path, bigann10k, bigann_index):
    Q = bigann10k.test
    ref_i, ref_d = bigann_index.search_batch(Q, 10, C=7)
    bigann_index.save(tmp_path / "idx")
    bigann_index.save(tmp_path / "idx")  # replacing an existing index works
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
    loaded = ClusterIndex.load(tmp_path / "idx")
    i, d = loaded.search_batch(Q, 10, C=7)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(d, ref_d)
    disk = ClusterIndex.load(tmp_path / "idx", storage="disk", storage_path=tmp_path / "store")
    assert isinstance(disk._store.vectors, np.memmap)
    assert disk.memory_bytes()["disk"] == 9900 * 128 * 4
    np.testing.assert_array_equal(disk.search_batch(Q, 10, C=7)[0], ref_i)
    built = ClusterIndex(n_clusters=1.0, seed=0, storage="disk",
                         storage_path=tmp_path / "s2").fit(bigann10k.train)
    np.testing.assert_array_equal(built.search_batch(Q, 10, C=7)[0], ref_i)
    built.add(Q[:5], np.arange(5) + 50_000)
    assert built.search(Q[0], 1, C=3)[0][0] == 50_000
    assert built.memory_bytes()["ram"] < built.memory_bytes()["vectors"]


def test_transform_is_required_on_load(tmp_path, small):
    X, _ = small
    index = ClusterIndex(n_clusters=5).fit(X, transform=lambda A: A[:, :4].copy())
    index.save(tmp_path / "t")
    with pytest.raises(ValueError, match="built with a transform"):
        ClusterIndex.load(tmp_path / "t")
    loaded = ClusterIndex.load(tmp_path / "t", transform=lambda A: A[:, :4].copy())
    assert loaded.embed_dim == 4
    with pytest.raises(ValueError, match="wrong dimension"):
        ClusterIndex.load(tmp_path / "t", transform=lambda A: A[:, :3].copy())
    ClusterIndex(n_clusters=5).fit(X).save(tmp_path / "p")
    with pytest.raises(ValueError, match="without a transform"):
        ClusterIndex.load(tmp_path / "p", transform=lambda A: A)


def test_corrupt_or_mismatched_saved_index(tmp_path, small):
    """The shared format's checks hold for a ClusterIndex (tests/core/test_index_format.py has
    the rest): altered arrays or graph refused by checksum, shapes that disagree with the state
    refused by name, an index of another class refused."""
    import shutil

    X, _ = small
    ClusterIndex(n_clusters=5).fit(X).save(tmp_path / "ok")
    for name in ("vectors.npy", "graph.bottom.npy"):
        bad = tmp_path / f"bad-{name}"
        shutil.copytree(tmp_path / "ok", bad)
        raw = bytearray((bad / name).read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        (bad / name).write_bytes(bytes(raw))
        with pytest.raises(ValueError, match=f"{name} is corrupt"):
            ClusterIndex.load(bad)
    shapes = tmp_path / "shapes"
    shutil.copytree(tmp_path / "ok", shapes)
    manifest = json.loads((shapes / "index.json").read_text())
    manifest["state"]["shape"]["dim"] = 13  # the arrays no longer match
    (shapes / "index.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="array vectors is"):
        ClusterIndex.load(shapes)
    KNNGraphIndex(n_neighbors=5).fit(X).save(tmp_path / "graph")
    with pytest.raises(ValueError, match="holds a 'KNNGraphIndex' index, not a ClusterIndex"):
        ClusterIndex.load(tmp_path / "graph")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not an annann index; refusing"):
        ClusterIndex(n_clusters=5).fit(X).save(tmp_path / "file")


def test_input_errors(small):
    X, Q = small
    with pytest.raises(NotFittedError, match="fit"):
        ClusterIndex().search(Q[0], 1)
    index = ClusterIndex(n_clusters=6, seed=0).fit(X)
    cases = [
        (lambda: ClusterIndex(metric="hamming"), "unknown metric"),
        (lambda: ClusterIndex(n_clusters=0), "n_clusters"),
        (lambda: ClusterIndex(rerank=0), "rerank"),
        (lambda: ClusterIndex(storage="tape"), "storage"),
        (lambda: ClusterIndex().fit(np.empty((0, 12), np.float32)), "empty"),
        (lambda: ClusterIndex().fit(np.where(X == X[3, 4], np.nan, X)), "NaN"),
        (lambda: ClusterIndex().fit(X[0]), "2-D"),
        (lambda: ClusterIndex(n_clusters=4).fit(X, ids=np.zeros(600, int)), "duplicate"),
        (lambda: ClusterIndex(n_clusters=4).fit(X, ids=np.arange(5)), "5 ids for 600"),
        (lambda: ClusterIndex(n_clusters=4).fit(X, transform="nope"), "callable"),
        (lambda: index.search(Q[0, :5], 3), "wrong dimension"),
        (lambda: index.search(np.full(12, np.inf), 3), "NaN or inf"),
        (lambda: index.search(Q[0], 601), "larger than the number"),
        (lambda: index.search(Q[0], 0), ">= 1"),
        (lambda: index.search(Q[0], 3, C=0), "C"),
        (lambda: index.search_batch(Q[:, :3], 3), "wrong dimension"),
        (lambda: index.add(Q[:2, :3], [1000, 1001]), "wrong dimension"),
        (lambda: index.add(Q[:2], [1000]), "1 ids for 2"),
        (lambda: index.add(Q[:2], [5, 1000]), "already in the index"),
        (lambda: index.add(Q[:2], [1000, 1000]), "duplicate"),
        (lambda: index.add(np.empty((0, 12), np.float32), []), "empty"),
        (lambda: index.add(np.full((1, 12), np.nan), [1000]), "NaN"),
        (lambda: index.remove([3, 12345]), "unknown ids"),
        (lambda: index.update(Q[:1], [12345]), "unknown ids"),
        (lambda: index.update(Q[:2], [1, 1]), "duplicate"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert index.size == 600  # failed calls changed nothing
    assert index.search(X[3], 1, C=6)[0][0] == 3



def test_auto_quantizer_follows_the_dimension_and_saves_concrete(tmp_path):
    """The default "auto" scans codes from 64 dimensions up and rows below; a saved index
    records what fit chose, so loading it never re-decides."""
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="quantizer"):
        ClusterIndex(quantizer="sq8")
    for d, coded in ((25, False), (64, True)):
        index = ClusterIndex(n_clusters=8, seed=0).fit(rng.standard_normal((500, d)))
        assert index.quantizer == "auto" and index.coded == coded
        index.save(tmp_path / f"i{d}")
        back = ClusterIndex.load(tmp_path / f"i{d}")
        assert back.quantizer == ("rabitq" if coded else "none") and back.coded == coded
