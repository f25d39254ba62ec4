"""KNNGraphIndex on real data: graph recall, search recall (ann-benchmarks definition), errors."""

import numpy as np
import pytest

from annann.core.distances import distances
from annann.core.validation import NotFittedError
from annann.data.evaluation import knn_recall
from annann.graph.index import KNNGraphIndex
from annann.ivf.index import ClusterIndex


def run_recall(index, ds, beam, metric="euclidean", m=None):
    Q = ds.test[:m]
    ids, _ = index.search_batch(Q, 10, beam=beam)
    true = np.stack([distances(q, ds.train[i], metric) for q, i in zip(Q, ids)])
    return knn_recall(ds.distances[:len(Q)], true, 10).mean()


@pytest.fixture(scope="module")
def index10(bigann10k):
    return KNNGraphIndex(n_neighbors=10, n_jobs=2, seed=0).fit(bigann10k.train)


@pytest.fixture(scope="module")
def rows10(index10, bigann10k):
    """The full-row walk (quantizer="none") over index10's K-NN lists."""
    ids, d = index10.neighbor_graph
    return KNNGraphIndex(n_neighbors=10, n_jobs=2, seed=0, quantizer="none").fit_graph(
        bigann10k.train, ids, d * d)


def test_graph_recall_k10(index10):
    assert index10.graph_recall(n_sample=None) >= 0.95
    ids, d = index10.neighbor_graph
    assert ids.shape == (9900, 10) and np.all(np.diff(d, axis=1) >= 0)
    assert not (ids == np.arange(9900)[:, None]).any()


def test_search_recall_k10(index10, bigann10k):
    recalls = [run_recall(index10, bigann10k, beam) for beam in (10, 40, 120)]
    assert recalls[-1] >= 0.95, recalls
    assert recalls[0] <= recalls[-1]


def test_single_and_batch_search_agree(index10, bigann10k):
    ids_b, d_b = index10.search_batch(bigann10k.test[:20], 10, beam=30)
    for r, q in enumerate(bigann10k.test[:20]):
        ids, d = index10.search(q, 10, beam=30)
        np.testing.assert_array_equal(ids, ids_b[r])
        np.testing.assert_allclose(d, d_b[r], rtol=1e-5)
        np.testing.assert_allclose(d, distances(q, bigann10k.train[ids], "euclidean"), rtol=1e-3)
    assert index10.last_stats["dist_comps"] > 0


def test_batch_runs_in_parallel_and_answers_as_single_queries(bigann10k, rows10):
    idx = KNNGraphIndex(n_neighbors=10, n_jobs=2, seed=0).fit(bigann10k.train)
    Q = bigann10k.test
    for index, kw in ((idx, {"beam": 40}), (idx, {"beam": 64, "entry_tables": 3, "margin": 1.0}),
                      (rows10, {"beam": 40}),
                      (rows10, {"beam": 64, "epsilon": 0.1, "entry_tables": 3})):
        ids_b, d_b = index.search_batch(Q, 10, **kw)
        assert index._bits.shape[0] == 2  # one visited set per thread
        single = np.stack([index.search(q, 10, **kw)[0] for q in Q])
        np.testing.assert_array_equal(single, ids_b)
        assert not index._bits.any()  # every walk left its visited set clean


def test_the_locality_order_changes_storage_not_answers(index10, bigann10k):
    """A reordered index answers with the caller's ids: the same neighbours and distances as the
    index stored in the input order, and the same K-NN graph."""
    plain = KNNGraphIndex(n_neighbors=10, n_jobs=2, seed=0, reorder=False).fit(bigann10k.train)
    assert not np.array_equal(index10.labels, np.arange(9900))  # really stored in another order
    np.testing.assert_array_equal(np.sort(index10.labels), np.arange(9900))
    np.testing.assert_array_equal(index10.X, bigann10k.train[index10.labels])
    np.testing.assert_array_equal(plain.labels, np.arange(9900))
    np.testing.assert_array_equal(index10.neighbor_graph[0], plain.neighbor_graph[0])
    np.testing.assert_allclose(index10.neighbor_graph[1], plain.neighbor_graph[1])
    Q = bigann10k.test
    for beam in (10, 64):
        ids_r, d_r = index10.search_batch(Q, 10, beam=beam)
        ids_p, d_p = plain.search_batch(Q, 10, beam=beam)
        np.testing.assert_allclose(d_r, d_p, rtol=1e-5)  # same walk: ties may swap ids only
        same = (ids_r == ids_p).mean()
        assert same > 0.999, same
        true = np.stack([distances(q, bigann10k.train[i], "euclidean") for q, i in zip(Q, ids_r)])
        np.testing.assert_allclose(d_r, true, rtol=1e-3)  # ids are the caller's rows
    ids, d = index10.search(Q[0], 10, beam=30)
    np.testing.assert_allclose(d, distances(Q[0], bigann10k.train[ids], "euclidean"), rtol=1e-3)


def test_recall_reaches_0_999_at_the_largest_beam(bigann10k):
    """The top of the committed grid (algos.yaml) on the embedded real SIFT set."""
    idx = KNNGraphIndex(n_neighbors=20, seed=0).fit(bigann10k.train)
    Q = bigann10k.test
    ids, _ = idx.search_batch(Q, 10, beam=512, entry_tables=8)
    true = np.stack([distances(q, bigann10k.train[i], "euclidean") for q, i in zip(Q, ids)])
    assert knn_recall(bigann10k.distances, true, 10).mean() >= 0.999


def test_a_beam_below_k_still_returns_k_exact_neighbours_and_does_less_work(rows10, bigann10k):
    """Full-row walk, beam 4 < k = 10: every distance is offered to the k best, so k rows come
    back, sorted, with their exact distances; the walk computes fewer distances than at beam 10
    and recall rises with the beam."""
    Q = bigann10k.test
    index10 = rows10

    def run(beam):
        index10.counters.reset()
        ids, d = index10.search_batch(Q, 10, beam=beam)
        return ids, d, index10.counters.mean("dist_comps")

    ids4, d4, c4 = run(4)
    ids10, _, c10 = run(10)
    assert (ids4 >= 0).all() and np.all(np.diff(d4, axis=1) >= 0)
    for q, i, d in zip(Q[:20], ids4[:20], d4[:20]):
        assert len(set(i)) == 10
        np.testing.assert_allclose(d, distances(q, bigann10k.train[i], "euclidean"), rtol=1e-3)
    assert c4 < c10
    assert run_recall(index10, bigann10k, 4) < run_recall(index10, bigann10k, 10)
    assert run_recall(index10, bigann10k, 4) > 0.5


def test_epsilon_and_entry_tables_trade_work_for_recall(rows10, index10, bigann10k):
    Q = bigann10k.test
    with pytest.raises(ValueError, match="epsilon applies to quantizer='none'"):
        index10.search(Q[0], 10, epsilon=0.1)
    with pytest.raises(ValueError, match="margin: applies to the coded walk"):
        rows10.search(Q[0], 10, margin=1.0)
    index10 = rows10

    def comps(**kw):
        index10.counters.reset()
        index10.search_batch(Q, 10, **kw)
        return index10.counters.mean("dist_comps")

    assert comps(beam=200, epsilon=0.05) < comps(beam=200, epsilon=0.3) < comps(beam=200)
    np.testing.assert_array_equal(index10.search_batch(Q, 10, beam=50, epsilon=1e5)[0],
                                  index10.search_batch(Q, 10, beam=50)[0])
    assert comps(beam=50, entry_tables=4) > comps(beam=50, entry_tables=1)
    with pytest.raises(ValueError, match="entry_tables=9 exceeds the 8 LSH tables"):
        index10.search(Q[0], 10, entry_tables=9)
    with pytest.raises(ValueError, match="epsilon"):
        index10.search(Q[0], 10, epsilon=-1)


def test_a_walk_that_marks_more_than_it_can_record_still_leaves_a_clean_set(index10, bigann10k):
    small = np.empty((1, 5), dtype=np.int64)  # room to record 5 marks: the walk overflows
    saved = index10._touched
    index10._touched = small
    try:
        ids, _ = index10.search(bigann10k.test[0], 10, beam=100)
    finally:
        index10._touched = saved
    assert not index10._bits.any()
    np.testing.assert_array_equal(ids, index10.search(bigann10k.test[0], 10, beam=100)[0])


def test_angular(glove12k):
    idx = KNNGraphIndex("angular", n_neighbors=15, n_jobs=2).fit(glove12k.train)
    assert idx.graph_recall(n_sample=500) >= 0.9
    assert run_recall(idx, glove12k, 100, "angular", m=200) >= 0.9
    ids, d = idx.search(glove12k.test[0], 5, beam=50)
    np.testing.assert_allclose(d, distances(glove12k.test[0], glove12k.train[ids], "angular"),
                               atol=1e-4)


def test_coded_walk_expands_few_nodes_and_returns_exact_distances(index10, rows10, bigann10k):
    """The walk on codes computes one exact distance per node it expands (the beam's worth) where
    the full-row walk computes one per neighbour it reaches; its answers carry exact distances;
    recall rises with the beam to >= 0.999 at the largest beam of the grid."""
    Q = bigann10k.test

    def comps(index, **kw):
        index.counters.reset()
        ids, d = index.search_batch(Q, 10, **kw)
        return ids, d, index.counters.mean("dist_comps")

    ids, d, coded = comps(index10, beam=64)
    _, _, rows = comps(rows10, beam=64)
    assert 64 <= coded < 0.5 * rows
    true = np.stack([distances(q, bigann10k.train[i], "euclidean") for q, i in zip(Q, ids)])
    np.testing.assert_allclose(d, true, rtol=1e-4)
    recalls = [run_recall(index10, bigann10k, beam) for beam in (10, 32, 128, 1024)]
    assert recalls == sorted(recalls) and recalls[-1] >= 0.999, recalls


def test_coded_blocks_hold_the_search_graph_and_the_signs_of_the_residuals(index10):
    """Each node's block holds its own rotated row, its first R search-graph neighbours (-1 after
    the last) and, per neighbour, the signs of (neighbour - node) in the rotated space."""
    from annann.graph.coded_search import block_layout

    f32, i32, u64, layout = index10._block_views
    o_row, _, o_ids, o_codes, _ = block_layout(index10._rotation.padded, index10.max_degree)
    R, P = index10.max_degree, index10._rotation.padded
    rows = index10._rotation.rows(index10.X)
    np.testing.assert_allclose(f32[:, o_row:o_row + P], rows, rtol=1e-6)
    for node in (0, 17, 4242):
        deg = min(index10.degrees[node], R)
        ids = i32[node, o_ids:o_ids + R]
        np.testing.assert_array_equal(ids[:deg], index10.neighbors[node, :deg])
        assert (ids[deg:] == -1).all()
        codes = u64[node, o_codes:o_codes + P // 64 * R].reshape(P // 64, R)
        for s in range(deg):
            bits = np.unpackbits(codes[:, s].copy().view(np.uint8), bitorder="little")
            np.testing.assert_array_equal(bits.astype(bool), rows[ids[s]] - rows[node] > 0)


def test_coded_index_refuses_inserts_and_reports_its_memory(index10):
    with pytest.raises(NotImplementedError, match="static"):
        index10.add(np.zeros((2, 128), np.float32))
    mem = index10.memory_bytes()
    assert mem["rows"] == 9900 * 128 * 4 and mem["blocks"] == index10._blocks.nbytes > 0
    assert mem["total"] == sum(v for k, v in mem.items() if k != "total")


def test_random_init_variant(bigann10k):
    idx = KNNGraphIndex(n_neighbors=10, init="random", n_jobs=2).fit(bigann10k.train[:3000])
    assert idx.graph_recall(n_sample=None) >= 0.95
    assert idx.last_stats["iterations"] >= 2


@pytest.mark.parametrize("kw, msg", [
    ({"init": "kdtree"}, "init"), ({"rho": 0}, "rho"), ({"rho": 1.5}, "rho"),
    ({"n_neighbors": 0}, "n_neighbors"), ({"bucket_size": 1}, "bucket_size"),
    ({"delta": -0.1}, "delta"), ({"metric": "cosine"}, "metric"), ({"pool_size": 5}, "pool_size"),
    ({"n_jobs": 0}, "n_jobs"), ({"entry_tables": 9}, "entry_tables"), ({"max_iters": 1.5}, "max_iters"),
    ({"lsh_directions": "pca"}, "lsh_directions"), ({"reorder": "yes"}, "reorder"),
])
def test_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        KNNGraphIndex(**kw)


def test_bad_data_and_queries(index10, bigann10k):
    with pytest.raises(ValueError, match="empty"):
        KNNGraphIndex().fit(np.zeros((0, 8)))
    X = np.ones((50, 8))
    X[7, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        KNNGraphIndex(n_neighbors=5).fit(X)
    with pytest.raises(ValueError, match="smaller than the number of points"):
        KNNGraphIndex(n_neighbors=20).fit(np.random.default_rng(0).normal(size=(20, 4)))
    with pytest.raises(NotFittedError, match="fit"):
        KNNGraphIndex().search(np.zeros(4), 1)
    with pytest.raises(ValueError, match="dimension"):
        index10.search(np.zeros(5), 3)
    with pytest.raises(ValueError, match="dimension"):
        index10.search_batch(np.zeros((2, 5)), 3)
    q = bigann10k.test[0].copy()
    q[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        index10.search(q, 3)
    with pytest.raises(ValueError, match="larger than"):
        index10.search(bigann10k.test[0], 10_000)
    with pytest.raises(ValueError, match="beam"):
        index10.search(bigann10k.test[0], 3, beam=0)
    index10.search(bigann10k.test[0], 3, beam=1)  # a setting already checked is remembered ...
    for bad in (True, 1.0, "1"):  # ... but not for look-alikes of another type
        with pytest.raises(ValueError, match="beam"):
            index10.search(bigann10k.test[0], 3, beam=bad)


def test_save_load_round_trip_and_bad_directories(bigann10k, tmp_path):
    idx = KNNGraphIndex(n_neighbors=8, lsh_tables=3, n_jobs=2).fit(bigann10k.train[:2000])
    rows = KNNGraphIndex(n_neighbors=8, lsh_tables=3, n_jobs=2, quantizer="none").fit(
        bigann10k.train[:2000])
    rows.save(tmp_path.parent / f"{tmp_path.name}-rows")
    back = KNNGraphIndex.load(tmp_path.parent / f"{tmp_path.name}-rows")
    assert back.quantizer == "none"
    np.testing.assert_array_equal(back.search_batch(bigann10k.test[:10], 5, beam=20)[0],
                                  rows.search_batch(bigann10k.test[:10], 5, beam=20)[0])
    path = tmp_path / "g"
    idx.save(path)
    idx.save(path)  # replacing an existing index works
    assert [p.name for p in tmp_path.iterdir()] == ["g"]  # no temp directory left behind
    back = KNNGraphIndex.load(path)
    ids_a, d_a = idx.search_batch(bigann10k.test[:10], 5, beam=20)
    ids_b, d_b = back.search_batch(bigann10k.test[:10], 5, beam=20)
    np.testing.assert_array_equal(ids_a, ids_b)
    np.testing.assert_array_equal(d_a, d_b)
    np.testing.assert_array_equal(idx.neighbor_graph[0], back.neighbor_graph[0])
    np.testing.assert_array_equal(idx.labels, back.labels)
    assert back.reorder and back.n_neighbors == 8 and back.lsh_tables == 3 and back.size == 2000
    assert back.quantizer == "rabitq" and np.array_equal(back._blocks, idx._blocks)
    raw = bytearray((path / "blocks.npy").read_bytes())
    raw[-3] ^= 0xFF
    (path / "blocks.npy").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="blocks.npy is corrupt"):
        KNNGraphIndex.load(path)
    idx.save(path)
    raw = bytearray((path / "neighbors.npy").read_bytes())
    raw[-3] ^= 0xFF
    (path / "neighbors.npy").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="neighbors.npy is corrupt"):
        KNNGraphIndex.load(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not an annann index directory"):
        KNNGraphIndex.load(bad)
    ClusterIndex(n_clusters=4).fit(bigann10k.train[:200]).save(tmp_path / "ivf")
    with pytest.raises(ValueError, match="not a KNNGraphIndex"):
        KNNGraphIndex.load(tmp_path / "ivf")
    with pytest.raises(NotFittedError, match="fit"):
        KNNGraphIndex().save(tmp_path / "x")


def test_fit_graph_searches_a_graph_built_elsewhere(index10, bigann10k):
    ids, d = index10.neighbor_graph
    other = KNNGraphIndex("euclidean", n_neighbors=10).fit_graph(bigann10k.train, ids, d * d)
    np.testing.assert_array_equal(other.neighbor_graph[0], ids)
    assert run_recall(other, bigann10k, 64) >= 0.95
    with pytest.raises(ValueError, match="do not match"):
        KNNGraphIndex("euclidean", n_neighbors=12).fit_graph(bigann10k.train, ids, d * d)
    bad = ids.copy()
    bad[0, 0] = len(bigann10k.train)
    with pytest.raises(ValueError, match="ids outside"):
        KNNGraphIndex("euclidean", n_neighbors=10).fit_graph(bigann10k.train, bad, d * d)


def test_auto_quantizer_follows_the_dimension_and_saves_concrete(tmp_path):
    """The default "auto" walks on codes from 64 dimensions up and on rows below; the saved
    index records what fit chose."""
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="quantizer"):
        KNNGraphIndex(quantizer="sq8")
    for d, coded in ((25, False), (64, True)):
        index = KNNGraphIndex(n_neighbors=8, lsh_tables=2, n_jobs=1, seed=0).fit(
            rng.standard_normal((600, d)))
        assert index.quantizer == "auto" and index.coded == coded
        index.save(tmp_path / f"g{d}")
        back = KNNGraphIndex.load(tmp_path / f"g{d}")
        assert back.quantizer == ("rabitq" if coded else "none") and back.coded == coded
        np.testing.assert_array_equal(back.search(index.X[0], 5)[0], index.search(index.X[0], 5)[0])
