"""Search-graph preparation and beam search, checked against brute force."""

import numpy as np

from annann.graph.quality import exact_neighbors
from annann.core.heaps import pool_insert
from annann.core.graph_search import beam_search
from annann.graph.search_graph import prepare_search_graph


def knn_graph(X, k):
    ids, d = exact_neighbors(X, np.arange(X.shape[0]), k)
    return ids.astype(np.int32), (d.astype(np.float32)) ** 2


def test_pool_stays_sorted_and_bounded():
    cap = 5
    pid = np.empty(cap + 1, dtype=np.int64)
    pd = np.empty(cap + 1, dtype=np.float32)
    done = np.zeros(cap + 1, dtype=np.bool_)
    size = 0
    vals = [5.0, 1.0, 3.0, 9.0, 0.5, 2.0, 7.0, 0.1]
    for j, v in enumerate(vals):
        size = pool_insert(pid, pd, done, size, cap, j, np.float32(v))
    assert size == cap
    np.testing.assert_array_equal(pd[:size], np.float32(sorted(vals)[:cap]))
    assert pid[:size].tolist() == [7, 4, 1, 5, 2]


def test_prepared_graph_is_clean():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 12)).astype(np.float32)
    ids, sq = knn_graph(X, 10)
    nb, deg = prepare_search_graph(X, ids, sq, max_degree=14, alpha=1.0)
    assert deg.max() <= 14 and deg.min() >= 1
    for i in range(800):
        row = nb[i, :deg[i]]
        assert i not in row
        assert len(set(row.tolist())) == deg[i]
        assert (nb[i, deg[i]:] == -1).all()
    # diversification drops edges, alpha > 1 keeps more of them
    nb2, deg2 = prepare_search_graph(X, ids, sq, max_degree=14, alpha=1.5)
    assert deg2.mean() > deg.mean()


def test_full_beam_is_exact_and_small_beam_is_good():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 10)).astype(np.float32)
    Q = rng.normal(size=(50, 10)).astype(np.float32)
    ids, sq = knn_graph(X, 12)
    nb, deg = prepare_search_graph(X, ids, sq, max_degree=24)
    visited = np.zeros(1000, dtype=np.int64)
    entries = np.array([0, 1, 2], dtype=np.int64)
    true_ids, _ = exact_neighbors(np.concatenate([X, Q]), np.arange(1000, 1050), 1000)
    hits_small = 0
    for r, q in enumerate(Q):
        truth = true_ids[r][true_ids[r] < 1000][:10]
        found, d, nd = beam_search(q, X, nb, deg, entries, 3, 10, 1000, visited, 2 * r + 1)
        assert set(found.tolist()) == set(truth.tolist())
        assert np.all(np.diff(d) >= 0)
        found, d, nd = beam_search(q, X, nb, deg, entries, 3, 10, 40, visited, 2 * r + 2)
        hits_small += len(set(found.tolist()) & set(truth.tolist()))
        assert nd < 1000
    assert hits_small / 500 >= 0.9
