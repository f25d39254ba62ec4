"""Quality of an approximate K-NN graph: recall against the exact K-NN graph on sampled nodes."""

import numpy as np

from ..data.groundtruth import exact_knn


def sample_nodes(n, n_sample, seed=0):
    """Sorted sample of min(n, n_sample) distinct node ids (all nodes when n_sample >= n)."""
    if n_sample is None or n_sample >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=n_sample, replace=False))


def exact_neighbors(X, nodes, k, metric="euclidean"):
    """Exact k nearest neighbours of X[nodes] among X, excluding the node itself: (ids, dists)."""
    ids, d = exact_knn(X, X[nodes], k + 1, metric=metric)
    out_i = np.empty((nodes.shape[0], k), dtype=np.int64)
    out_d = np.empty((nodes.shape[0], k), dtype=np.float32)
    for r, node in enumerate(nodes):
        keep = ids[r] != node
        if keep.all():  # a duplicate point took the self slot: drop the farthest instead
            keep[-1] = False
        out_i[r] = ids[r][keep][:k]
        out_d[r] = d[r][keep][:k]
    return out_i, out_d


def graph_recall(approx_ids, true_ids, k=None):
    """Mean fraction of each node's true k neighbours (by id) among its first k approximate ones.

    Rows of approx_ids must be sorted by distance when they hold more than k ids.
    """
    approx_ids = np.asarray(approx_ids)
    true_ids = np.asarray(true_ids)
    k = true_ids.shape[1] if k is None else k
    a = approx_ids[:, :k]
    hits = 0
    for r0 in range(0, a.shape[0], 4096):
        blk = a[r0:r0 + 4096, :, None] == true_ids[r0:r0 + 4096, None, :k]
        hits += int(blk.any(axis=1).sum())
    return hits / float(true_ids.shape[0] * k)


class GraphRecallProbe:
    """Exact neighbours of a node sample, computed once, to score graphs (or heaps) cheaply."""

    def __init__(self, X, k, n_sample=1000, metric="euclidean", seed=0):
        self.k = k
        self.nodes = sample_nodes(X.shape[0], n_sample, seed)
        self.true_ids, self.true_dists = exact_neighbors(X, self.nodes, k, metric)

    def recall(self, ids):
        """Graph recall of ids (n, >=k) (rows in any order, e.g. heaps) on the sampled nodes."""
        return graph_recall(np.asarray(ids)[self.nodes], self.true_ids, self.k)
