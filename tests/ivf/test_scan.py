"""ivf.scan: the top-k heap comes out sorted, clusters are ranked and scanned exactly."""

import numpy as np

from annann.core.heaps import empty_heaps, heap_push
from annann.ivf.centroid_graph import CentroidGraph
from annann.ivf.scan import rank_clusters, scan_clusters, search_query, sorted_heap


def test_heap_keeps_k_smallest_sorted_with_ties_by_id():
    rng = np.random.default_rng(0)
    d = rng.integers(0, 20, size=300).astype(np.float32)  # many ties
    ids = rng.permutation(300).astype(np.int64)
    hi, hd, _ = empty_heaps(1, 15, id_dtype=np.int64)
    for x, i in zip(d, ids):
        heap_push(hi, hd, hi, 0, i, x, i)
    out_i, out_d = np.empty(15, np.int64), np.empty(15, np.float32)
    sorted_heap(hi, hd, out_i, out_d)
    np.testing.assert_array_equal(out_d, np.sort(d)[:15])
    for t in range(14):  # equal distances come out by increasing id
        if out_d[t] == out_d[t + 1]:
            assert out_i[t] < out_i[t + 1]
    assert set(out_i[:15][out_d[:15] < out_d[14]]) <= set(ids[d < out_d[14]])


def layout(seed=1, k=6, per=20, d=8):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, per, size=k).astype(np.int64)
    counts[0] = 0  # an empty cluster
    starts = np.cumsum(counts) - counts
    n = int(counts.sum())
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    slot_ids = rng.permutation(n).astype(np.int64) + 100
    centroids = np.zeros((k, d), np.float32)
    for c in range(k):
        if counts[c]:
            centroids[c] = vectors[starts[c]:starts[c] + counts[c]].mean(axis=0)
    return rng, vectors, slot_ids, starts, counts, centroids


def test_rank_clusters_skips_empty_and_orders_by_distance():
    rng, vectors, slot_ids, starts, counts, centroids = layout()
    q = rng.standard_normal(8).astype(np.float32)
    cand = np.arange(6, dtype=np.int64)
    chosen = np.empty(3, np.int64)
    chosen_d = np.empty(3, np.float32)
    n, comps = rank_clusters(centroids, counts, cand, q, 3, chosen, chosen_d)
    nonempty = np.flatnonzero(counts > 0)
    d = ((centroids[nonempty] - q) ** 2).sum(axis=1)
    assert n == 3 and comps == nonempty.shape[0]
    np.testing.assert_array_equal(chosen, nonempty[np.argsort(d)[:3]])
    np.testing.assert_allclose(chosen_d, np.sort(d)[:3], rtol=1e-5)


def test_scan_and_search_match_brute_force_over_chosen_clusters():
    rng, vectors, slot_ids, starts, counts, centroids = layout(seed=2)
    q = rng.standard_normal(8).astype(np.float32)
    chosen = np.array([3, 1], np.int64)
    out_i, out_d = np.empty(5, np.int64), np.empty(5, np.float32)
    found, scanned = scan_clusters(vectors, slot_ids, starts, counts, chosen, 2, q, 5, out_i,
                                   out_d)
    rows = np.concatenate([np.arange(starts[c], starts[c] + counts[c]) for c in chosen])
    assert scanned == rows.shape[0] and found == 5
    d = ((vectors[rows].astype(np.float64) - q) ** 2).sum(axis=1)
    order = np.argsort(d)[:5]
    np.testing.assert_array_equal(out_i, slot_ids[rows][order])
    np.testing.assert_allclose(out_d, d[order], rtol=1e-5)
    graph = CentroidGraph(centroids, M=4, ef_construction=20)
    found, s, comps = search_query(vectors, slot_ids, starts, counts, centroids, q, q, 6, 5,
                                   *graph.args(6), out_i, out_d)
    d_all = ((vectors.astype(np.float64) - q) ** 2).sum(axis=1)
    assert s == vectors.shape[0] and found == 5 and comps >= 6
    np.testing.assert_array_equal(out_i, slot_ids[np.argsort(d_all)[:5]])


def test_scan_with_fewer_vectors_than_k_pads_with_minus_one():
    rng, vectors, slot_ids, starts, counts, centroids = layout(seed=3, per=4)
    q = rng.standard_normal(8).astype(np.float32)
    chosen = np.flatnonzero(counts > 0)[:1].astype(np.int64)
    k = int(counts[chosen[0]]) + 3
    out_i, out_d = np.empty(k, np.int64), np.empty(k, np.float32)
    found, _ = scan_clusters(vectors, slot_ids, starts, counts, chosen, 1, q, k, out_i, out_d)
    assert found == k - 3
    assert (out_i[-3:] == -1).all() and np.isinf(out_d[-3:]).all()
    assert (out_i[:-3] >= 0).all() and np.all(np.diff(out_d[:-3]) >= 0)
