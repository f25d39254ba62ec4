"""Search-graph preparation and beam search, checked against brute force."""

import numpy as np

from annann.graph.quality import exact_neighbors
from annann.core.graph_search import beam_search, visited_set
from annann.graph.search_graph import prepare_search_graph


def knn_graph(X, k):
    ids, d = exact_neighbors(X, np.arange(X.shape[0]), k)
    return ids.astype(np.int32), (d.astype(np.float32)) ** 2


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
    bits, touched = visited_set(1000)
    entries = np.array([0, 1, 2], dtype=np.int64)
    inf = np.float32(np.inf)
    true_ids, _ = exact_neighbors(np.concatenate([X, Q]), np.arange(1000, 1050), 1000)
    hits_small = 0
    for r, q in enumerate(Q):
        truth = true_ids[r][true_ids[r] < 1000][:10]
        found, d, nd = beam_search(q, X, nb, deg, entries, 3, 10, 1000, inf, bits, touched)
        assert set(found.tolist()) == set(truth.tolist())
        assert np.all(np.diff(d) >= 0) and not bits.any()
        found, d, nd = beam_search(q, X, nb, deg, entries, 3, 10, 40, inf, bits, touched)
        hits_small += len(set(found.tolist()) & set(truth.tolist()))
        assert nd < 1000 and not bits.any()
    assert hits_small / 500 >= 0.9
